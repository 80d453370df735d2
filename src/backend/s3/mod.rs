//! The S3 backend, through `aws-sdk-s3`, for AWS and S3-compatible stores
//! (garage, MinIO, Ceph RGW...).
//!
//! Locations use restic's syntax: `s3:https://HOST[:PORT]/BUCKET[/PREFIX]` or
//! `s3:http://...` for a custom endpoint (path-style addressing), and
//! `s3:s3.amazonaws.com/BUCKET[/PREFIX]` (or `s3.REGION.amazonaws.com`) for AWS
//! (virtual-hosted addressing). Credentials and region come from the usual AWS
//! sources: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
//! `AWS_PROFILE` and `~/.aws/{config,credentials}` (with `credential_process`),
//! web identity, ECS and EC2 instance roles.
//!
//! The SDK is async; this backend owns a small tokio runtime and blocks on it,
//! so the rest of snap stays synchronous. The SDK's own retries are off: the
//! [`RetryBackend`](super::RetryBackend) layer retries, with the same policy and
//! messages for every backend. A `PUT` is atomic in S3 and a multipart upload
//! is invisible until completed, so nothing partial is ever listed; no write
//! relies on conditional requests (`If-None-Match`), which some stores ignore.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration,
};
use aws_sdk_s3::Client;

use super::{Backend, BackendError, FileInfo};
use crate::id::FileKind;

/// Files larger than this go up as multipart uploads: packs of the default
/// 16 MiB go in one `PUT`; repositories made with a larger `--pack-size-mib`
/// (fewer objects, as object stores prefer) use multipart.
pub const MULTIPART_THRESHOLD: usize = 32 << 20;
/// The size of each part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

mod error;
mod location;

pub use location::S3Location;

/// A repository in an S3 bucket; see the module documentation.
pub struct S3Backend {
    runtime: tokio::runtime::Runtime,
    client: Client,
    location: S3Location,
    region: String,
    shown: String,
}

impl S3Backend {
    /// Opens `s3:` location `text` (without the scheme), with credentials and
    /// region from the environment, the AWS profile or the instance.
    pub fn new(text: &str) -> Result<S3Backend, BackendError> {
        S3Backend::build(text, None)
    }

    /// As [`S3Backend::new`] with an explicit access key and secret, for
    /// programs (and tests) that do not use the process environment.
    pub fn with_credentials(
        text: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<S3Backend, BackendError> {
        let creds = Credentials::new(access_key_id, secret_access_key, None, None, "snap");
        S3Backend::build(text, Some(creds))
    }

    fn build(text: &str, creds: Option<Credentials>) -> Result<S3Backend, BackendError> {
        let shown = format!("s3:{text}");
        let bad = |reason: String| BackendError::Location {
            location: shown.clone(),
            reason,
        };
        let location = S3Location::parse(text).map_err(bad)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("snap-s3")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the S3 client: {e}")))?;
        let (client, region) = runtime.block_on(async {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if let Some(region) = &location.region {
                loader = loader.region(Region::new(region.clone()));
            }
            let shared = loader.load().await;
            // Custom endpoints rarely care about the region, but the
            // signature names one: AWS's default unless configured.
            let region = shared
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".to_string());
            let mut config = aws_sdk_s3::config::Builder::from(&shared)
                .region(Region::new(region.clone()))
                .retry_config(RetryConfig::disabled())
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(15))
                        // A stuck request is cut off; the retry layer tries again.
                        .operation_attempt_timeout(Duration::from_secs(600))
                        .build(),
                );
            if let Some(endpoint) = &location.endpoint {
                config = config.endpoint_url(endpoint).force_path_style(true);
            }
            if let Some(creds) = creds {
                config = config.credentials_provider(creds);
            }
            (Client::from_conf(config.build()), region)
        });
        Ok(S3Backend {
            runtime,
            client,
            location,
            region,
            shown,
        })
    }

    fn block<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn key(&self, kind: FileKind, name: &str) -> String {
        self.join(&kind.path(name))
    }

    fn join(&self, rel: &str) -> String {
        if self.location.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.location.prefix)
        }
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &str,
        data: &[&[u8]],
    ) -> Result<(), BackendError> {
        let bucket = &self.location.bucket;
        let created = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            // Declared up front: some stores reject per-part checksums at
            // completion otherwise.
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.sdk_err("write", path, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = async {
            let mut parts = Vec::new();
            for (i, chunk) in PartChunks::new(data, PART_SIZE).enumerate() {
                let number = i as i32 + 1;
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(ByteStream::from(chunk))
                    .send()
                    .await
                    .map_err(|e| self.sdk_err("write", path, e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(uploaded.e_tag().map(str::to_string))
                        .set_checksum_crc32(uploaded.checksum_crc32().map(str::to_string))
                        .build(),
                );
            }
            self.client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.sdk_err("write", path, e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Parts of an abandoned upload cost storage until aborted.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

/// Cuts consecutive byte slices into owned parts of `size` bytes (the last
/// may be shorter), without first joining them.
struct PartChunks<'a> {
    slices: &'a [&'a [u8]],
    index: usize,
    offset: usize,
    size: usize,
}

impl<'a> PartChunks<'a> {
    fn new(slices: &'a [&'a [u8]], size: usize) -> PartChunks<'a> {
        PartChunks {
            slices,
            index: 0,
            offset: 0,
            size,
        }
    }
}

impl Iterator for PartChunks<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut part = Vec::new();
        while part.len() < self.size && self.index < self.slices.len() {
            let slice = &self.slices[self.index][self.offset..];
            let take = slice.len().min(self.size - part.len());
            part.extend_from_slice(&slice[..take]);
            self.offset += take;
            if self.offset == self.slices[self.index].len() {
                self.index += 1;
                self.offset = 0;
            }
        }
        (!part.is_empty()).then_some(part)
    }
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn preferred_connections(&self) -> usize {
        8
    }

    fn create(&self) -> Result<(), BackendError> {
        let bucket = &self.location.bucket;
        let head = self.block(self.client.head_bucket().bucket(bucket).send());
        let status = match &head {
            Ok(_) => return Ok(()),
            Err(SdkError::ServiceError(s)) => s.raw().status().as_u16(),
            Err(_) => 0,
        };
        if status != 404 {
            return head
                .map(|_| ())
                .map_err(|e| self.sdk_err("open bucket", "/", e));
        }
        let mut create = self.client.create_bucket().bucket(bucket);
        // AWS wants the region named for any but us-east-1; other stores
        // mostly reject a constraint they do not know.
        if self.location.endpoint.is_none() && self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match self.block(create.send()) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou")) => Ok(()),
            Err(e) => Err(self.sdk_err("create bucket", "/", e)),
        }
    }

    fn list(&self, kind: FileKind) -> Result<Vec<FileInfo>, BackendError> {
        let dir = format!("{}/", kind.dir());
        let prefix = self.join(&dir);
        self.block(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.sdk_err("list", &dir, e))?;
                for object in page.contents() {
                    let Some(key) = object.key() else { continue };
                    let name = key.rsplit('/').next().unwrap_or(key);
                    if name.is_empty() {
                        continue;
                    }
                    // Only packs live in sub-folders (data/ab/...).
                    let rel = &key[prefix.len()..];
                    if rel.contains('/') && kind != FileKind::Pack {
                        continue;
                    }
                    out.push(FileInfo {
                        name: name.to_string(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            Ok(out)
        })
    }

    fn stat(&self, kind: FileKind, name: &str) -> Result<u64, BackendError> {
        let path = kind.path(name);
        let head = self
            .block(
                self.client
                    .head_object()
                    .bucket(&self.location.bucket)
                    .key(self.key(kind, name))
                    .send(),
            )
            .map_err(|e| self.sdk_err("stat", &path, e))?;
        Ok(head.content_length().unwrap_or(0).max(0) as u64)
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<Vec<u8>, BackendError> {
        let mut buf = Vec::new();
        self.get_into(kind, name, None, &mut buf)?;
        Ok(buf)
    }

    fn read_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        let path = kind.path(name);
        let short = |size: u64| BackendError::ShortRead {
            location: self.shown.clone(),
            path: path.clone(),
            size,
            offset,
            len,
        };
        if len == 0 {
            // An empty range cannot be asked for; the file must still reach it.
            buf.clear();
            let size = self.stat(kind, name)?;
            return if offset <= size {
                Ok(())
            } else {
                Err(short(size))
            };
        }
        match self.get_into(kind, name, Some((offset, len)), buf) {
            Err(BackendError::Http { status: 416, .. }) => Err(short(self.stat(kind, name)?)),
            Err(e) => Err(e),
            Ok(()) if buf.len() as u64 != len => Err(short(offset + buf.len() as u64)),
            Ok(()) => Ok(()),
        }
    }

    fn write_parts(&self, kind: FileKind, name: &str, parts: &[&[u8]]) -> Result<(), BackendError> {
        let path = kind.path(name);
        let key = self.key(kind, name);
        let total: usize = parts.iter().map(|p| p.len()).sum();
        // Names are content hashes, so an existing object already holds these
        // bytes; overwriting it with the same bytes is harmless, and cheaper
        // than asking first.
        if total > MULTIPART_THRESHOLD {
            return self.block(self.put_multipart(&key, &path, parts));
        }
        self.block(
            self.client
                .put_object()
                .bucket(&self.location.bucket)
                .key(&key)
                .body(ByteStream::from(parts.concat()))
                .send(),
        )
        .map_err(|e| self.sdk_err("write", &path, e))?;
        Ok(())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<(), BackendError> {
        let path = kind.path(name);
        match self.block(
            self.client
                .delete_object()
                .bucket(&self.location.bucket)
                .key(self.key(kind, name))
                .send(),
        ) {
            Ok(_) => Ok(()),
            Err(e) => match self.sdk_err("delete", &path, e) {
                BackendError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

impl S3Backend {
    /// GETs a whole object, or `range` = (offset, len), into `buf`.
    fn get_into(
        &self,
        kind: FileKind,
        name: &str,
        range: Option<(u64, u64)>,
        buf: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        let path = kind.path(name);
        buf.clear();
        self.block(async {
            let mut get = self
                .client
                .get_object()
                .bucket(&self.location.bucket)
                .key(self.key(kind, name));
            if let Some((offset, len)) = range {
                get = get.range(format!("bytes={}-{}", offset, offset + len - 1));
            }
            let out = get
                .send()
                .await
                .map_err(|e| self.sdk_err("read", &path, e))?;
            if let Some(len) = out.content_length() {
                buf.reserve(len.max(0) as usize);
            }
            let mut body = out.body;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|e| self.body_err("read", &path, e))?
            {
                buf.extend_from_slice(&chunk);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cut_across_slices() {
        let a = vec![1u8; 5];
        let b = vec![2u8; 7];
        let slices: [&[u8]; 3] = [&a, &[], &b];
        let parts: Vec<Vec<u8>> = PartChunks::new(&slices, 4).collect();
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 4]);
        assert_eq!(parts.concat(), [a, b].concat());
    }
}
