//! One object's rows as a Parquet file.
//!
//! Rows go through Arrow's JSON decoder a chunk at a time and into the writer, which
//! encodes and compresses each row group as it fills; the file itself is held in memory up
//! to [`SPILL_AT`] and on disk past it (a spooled temporary file), so a large object costs
//! disk, not memory.
//!
//! AWS's Security Lake custom-source best practices: Parquet 1.x or 2.x, data pages up to
//! 1 MB uncompressed, row groups up to 256 MB compressed, zstd preferred.

use std::io::{Seek, SeekFrom};

use arrow_json::ReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tempfile::SpooledTempFile;

use crate::config::Compression;
use crate::schema::ClassSchema;

/// Past this a file being written moves from memory to disk.
pub const SPILL_AT: usize = 8 << 20;

/// Rows decoded into one Arrow batch before the writer takes them. The decoder's tape and
/// the batch's arrays grow with it: 1,024 cost 5 MiB more peak RSS than 256 in a 1M-event
/// backfill, at the same speed (BENCHMARKS.md).
const CHUNK: usize = 256;

/// Rows in a row group at most, and its encoded size at most: a row group is held in
/// memory, encoded, until it is written, so these bound the writer's memory (tens of MiB
/// of Coder events, compressed well under Security Lake's 256 MB).
const ROW_GROUP_ROWS: usize = 64 * 1024;
const ROW_GROUP_BYTES: usize = 16 << 20;

/// Data pages up to Security Lake's 1 MB.
const PAGE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("the spool file: {0}")]
    Io(#[from] std::io::Error),
    /// A row that is not one whole JSON object: `conform` writes only whole ones.
    #[error("row {0} is not one JSON object")]
    Row(usize),
}

/// A written file, rewound, and its length.
pub struct ParquetFile {
    pub body: SpooledTempFile,
    pub len: u64,
    pub rows: usize,
}

/// `rows` (each one row's JSON text, conformed to `class`, in order) as one Parquet file;
/// a row that cannot be read (from the staging file) fails the file.
pub fn write(
    class: &ClassSchema,
    rows: impl IntoIterator<Item = std::io::Result<Vec<u8>>>,
    compression: Compression,
) -> Result<ParquetFile, FileError> {
    let codec = match compression {
        Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::try_new(3)?),
        Compression::Snappy => ParquetCompression::SNAPPY,
    };
    let props = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_data_page_size_limit(PAGE_BYTES)
        .set_created_by(format!(
            "coder-audit-shipper {} (OCSF {})",
            env!("CARGO_PKG_VERSION"),
            crate::schema::Catalog::get().ocsf_version
        ))
        .build();
    let spool = SpooledTempFile::new(SPILL_AT);
    let mut writer = ArrowWriter::try_new(spool, class.arrow.clone(), Some(props))?;
    let mut decoder = ReaderBuilder::new(class.arrow.clone())
        .with_batch_size(CHUNK)
        .with_strict_mode(true)
        .build_decoder()?;
    let mut count = 0;
    for row in rows {
        let row = row?;
        let read = decoder.decode(&row)?;
        if read != row.len() || decoder.has_partial_record() {
            return Err(FileError::Row(count));
        }
        count += 1;
        if decoder.len() >= CHUNK
            && let Some(batch) = decoder.flush()?
        {
            writer.write(&batch)?;
        }
    }
    if let Some(batch) = decoder.flush()? {
        writer.write(&batch)?;
    }
    let mut body = writer.into_inner()?;
    let len = body.seek(SeekFrom::End(0))?;
    body.rewind()?;
    Ok(ParquetFile {
        body,
        len,
        rows: count,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use arrow_array::{Array, Int64Array, StringArray, StructArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;

    use super::*;
    use crate::conform::conform;
    use crate::schema::Catalog;

    #[test]
    fn rows_read_back_as_they_went_in_under_the_class_schema() {
        let class = Catalog::get().class(3002).unwrap();
        let rows: Vec<std::io::Result<Vec<u8>>> = (0..2500)
            .map(|i| {
                let event = json!({
                    "class_uid": 3002, "time": 1_700_000_000_000i64 + i,
                    "user": {"uid": format!("u{i}")},
                    "unmapped": {"coder": {"n": i}},
                });
                let mut row = Vec::new();
                conform(event.to_string().as_bytes(), &class.root, &mut row).unwrap();
                Ok(row)
            })
            .collect();
        let mut file = write(class, rows, Compression::Zstd).unwrap();
        assert_eq!(file.rows, 2500);
        let mut bytes = Vec::new();
        file.body.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, file.len);
        assert_eq!(&bytes[..4], b"PAR1");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let mut seen = 0;
        for batch in reader {
            let batch = batch.unwrap();
            assert_eq!(batch.schema().fields(), class.arrow.fields());
            let time = batch
                .column_by_name("time")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let user = batch
                .column_by_name("user")
                .unwrap()
                .as_any()
                .downcast_ref::<StructArray>()
                .unwrap();
            let uid = user
                .column_by_name("uid")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let unmapped = batch
                .column_by_name("unmapped")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            for r in 0..batch.num_rows() {
                let i = seen + r;
                assert_eq!(time.value(r), 1_700_000_000_000i64 + i as i64);
                assert_eq!(uid.value(r), format!("u{i}"));
                assert_eq!(unmapped.value(r), format!(r#"{{"coder":{{"n":{i}}}}}"#));
            }
            assert!(batch.column_by_name("message").unwrap().is_null(0));
            seen += batch.num_rows();
        }
        assert_eq!(seen, 2500);
    }
}
