//! An object's bytes: one record per line, gzip-compressed unless configured off.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use sink_core::Record;

use crate::config::S3Compression;

pub fn extension(compression: S3Compression) -> &'static str {
    match compression {
        S3Compression::Gzip => "ndjson.gz",
        S3Compression::None => "ndjson",
    }
}

pub fn encode(records: &[&Record], compression: S3Compression) -> std::io::Result<Vec<u8>> {
    let size: usize = records.iter().map(|r| r.payload.len() + 1).sum();
    match compression {
        S3Compression::None => {
            let mut out = Vec::with_capacity(size);
            for r in records {
                out.extend_from_slice(&r.payload);
                out.push(b'\n');
            }
            Ok(out)
        }
        S3Compression::Gzip => {
            let mut gz = GzEncoder::new(Vec::with_capacity(size / 4), Compression::fast());
            for r in records {
                gz.write_all(&r.payload)?;
                gz.write_all(b"\n")?;
            }
            gz.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_ndjson_round_trips() {
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                id: i.to_string().into(),
                time_micros: None,
                resource_type: None,
                action: None,
                payload: format!(r#"{{"n":{i}}}"#).into(),
            })
            .collect();
        let refs: Vec<&Record> = records.iter().collect();
        let gz = encode(&refs, S3Compression::Gzip).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(encode(&refs, S3Compression::None).unwrap(), text.as_bytes());
    }
}
