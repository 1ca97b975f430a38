//! The S3 peer from a test's side: an SDK client of it, a bucket per test, every object
//! read back, and the shipper run with the peer's keys.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use aws_sdk_s3::Client;
use serde_json::Value;

pub async fn client(env: &HashMap<String, String>) -> Client {
    let creds = aws_sdk_s3::config::Credentials::new(
        &env["AWS_ACCESS_KEY_ID"],
        &env["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "test",
    );
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(env["AWS_REGION"].clone()))
        .endpoint_url(&env["S3_ENDPOINT"])
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
}

pub async fn new_bucket(client: &Client) -> String {
    let bucket = super::unique("audit");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

/// Every object in the bucket: key → its NDJSON documents. Empty while the server is
/// down (a test polls through a restart).
pub async fn read_bucket(client: &Client, bucket: &str) -> HashMap<String, Vec<Value>> {
    let mut out = HashMap::new();
    for (key, gz) in read_objects(client, bucket).await {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        let docs = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        out.insert(key, docs);
    }
    out
}

/// Every object in the bucket: key → its bytes. Empty while the server is down.
pub async fn read_objects(client: &Client, bucket: &str) -> Vec<(String, bytes::Bytes)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let Ok(page) = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.clone())
            .send()
            .await
        else {
            return out;
        };
        for o in page.contents() {
            let key = o.key().unwrap().to_owned();
            let Ok(obj) = client.get_object().bucket(bucket).key(&key).send().await else {
                continue;
            };
            let Ok(body) = obj.body.collect().await else {
                continue;
            };
            out.push((key, body.into_bytes()));
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

/// `run` with the S3 peer's keys, and no other AWS credential source to fall back on.
pub fn run_command(cfg: &Path, env: &HashMap<String, String>) -> std::process::Command {
    let mut c = super::run_command(cfg);
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        c.env(k, &env[k]);
    }
    c
}
