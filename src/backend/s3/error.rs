//! Mapping the SDK's errors onto [`BackendError`]: 404 is `NotFound`
//! (except a missing bucket), other statuses are `Http` with a hint naming
//! what to check, transport failures are transient `Io`.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::S3Backend;
use crate::backend::BackendError;

impl S3Backend {
    pub(super) fn io(
        &self,
        action: &'static str,
        path: &str,
        kind: std::io::ErrorKind,
        message: String,
    ) -> BackendError {
        BackendError::io(self.shown.clone(), action, path, kind, message)
    }

    /// Maps an SDK error: 404 is `NotFound` (except a missing bucket), other
    /// statuses are `Http` with a hint, transport failures are transient `Io`.
    pub(super) fn sdk_err<E>(
        &self,
        action: &'static str,
        path: &str,
        e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> BackendError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        use std::io::ErrorKind as K;
        match &e {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = e.code().unwrap_or("").to_string();
                if status == 404 && code != "NoSuchBucket" {
                    return BackendError::NotFound {
                        location: self.shown.clone(),
                        path: path.to_string(),
                    };
                }
                let redirect_region = service
                    .raw()
                    .headers()
                    .get("x-amz-bucket-region")
                    .map(str::to_string);
                let words = [code.as_str(), e.message().unwrap_or("")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                BackendError::Http {
                    location: self.shown.clone(),
                    action,
                    path: path.to_string(),
                    status,
                    message: self.hint(status, &code, &words, redirect_region),
                }
            }
            SdkError::TimeoutError(_) => {
                self.io(action, path, K::TimedOut, "the request timed out".into())
            }
            SdkError::DispatchFailure(failure) => {
                let text = with_credentials_hint(crate::backend::error_chain(&e));
                // "Other" covers both a connection closed mid-request
                // (transient) and a missing identity or a refused
                // certificate (permanent).
                let lasting = text.contains("credential") || text.contains("certificate");
                let kind = if failure.is_timeout() {
                    K::TimedOut
                } else if failure.is_io() || (failure.is_other() && !lasting) {
                    K::ConnectionReset
                } else {
                    K::Other
                };
                self.io(action, path, kind, text)
            }
            SdkError::ResponseError(_) => self.io(
                action,
                path,
                K::ConnectionReset,
                crate::backend::error_chain(&e),
            ),
            _ => self.io(
                action,
                path,
                K::Other,
                with_credentials_hint(crate::backend::error_chain(&e)),
            ),
        }
    }

    fn hint(&self, status: u16, code: &str, words: &str, region: Option<String>) -> String {
        let hint = match (status, code) {
            (_, "NoSuchBucket") => format!(
                "bucket {} does not exist: create it, or run `snap init`, which creates it when the credentials allow",
                self.location.bucket
            ),
            (301, _) | (400, "AuthorizationHeaderMalformed") | (_, "PermanentRedirect") => {
                match region {
                    Some(r) => format!(
                        "bucket {} is in region {r}, not {}: set AWS_DEFAULT_REGION={r}",
                        self.location.bucket, self.region
                    ),
                    None => format!(
                        "bucket {} is in another region than {}: set AWS_DEFAULT_REGION",
                        self.location.bucket, self.region
                    ),
                }
            }
            (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch") | (401, _) => {
                "the store refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)".into()
            }
            // HEAD answers carry no error code: say both things to check.
            (403, _) => format!(
                "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and that they may read and write bucket {}",
                self.location.bucket
            ),
            (_, "QuotaExceeded") | (507, _) => "the store has no space or quota left".into(),
            (429 | 500..=599, _) => "the store is overloaded or failing; snap retries such errors".into(),
            _ => String::new(),
        };
        [format!("{status}"), words.to_string(), hint]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ")
    }

    pub(super) fn body_err(
        &self,
        action: &'static str,
        path: &str,
        e: impl std::fmt::Display,
    ) -> BackendError {
        self.io(
            action,
            path,
            std::io::ErrorKind::ConnectionReset,
            e.to_string(),
        )
    }
}

fn with_credentials_hint(text: String) -> String {
    if text.contains("no credentials") {
        format!("{text}\nSet AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance role applies")
    } else {
        text
    }
}
