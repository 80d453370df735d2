//! Parsing `s3:` locations (restic's syntax).

/// Where a repository lives in S3, parsed from an `s3:` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// A custom endpoint URL (`http(s)://HOST[:PORT]`), or `None` for AWS.
    pub endpoint: Option<String>,
    /// The region named by an AWS host (`s3.REGION.amazonaws.com`).
    pub region: Option<String>,
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Location {
    /// Parses a location without its `s3:` scheme.
    pub fn parse(text: &str) -> Result<S3Location, String> {
        let (scheme, rest) = match text.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (Some(s), rest),
            Some((other, _)) => {
                return Err(format!(
                    "the endpoint scheme must be http or https, not {other}"
                ))
            }
            None => (None, text),
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() || host.contains('@') {
            return Err("expected s3:https://HOST[:PORT]/BUCKET[/PREFIX] or s3:s3.amazonaws.com/BUCKET[/PREFIX] (credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, not the location)".into());
        }
        let path = path.trim_matches('/');
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err("the bucket name is missing: s3:HOST/BUCKET[/PREFIX]".into());
        }
        let valid_bucket = bucket.len() >= 3
            && bucket.len() <= 63
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!(
                "{bucket} is not a valid bucket name (3 to 63 characters: a-z, 0-9, '-' and '.')"
            ));
        }
        let hostname = host.split(':').next().unwrap_or(host);
        let aws = hostname == "s3.amazonaws.com"
            || (hostname.starts_with("s3.") && hostname.ends_with(".amazonaws.com"))
            || (hostname.starts_with("s3-") && hostname.ends_with(".amazonaws.com"));
        let (endpoint, region) = if aws && scheme != Some("http") {
            let region = hostname
                .strip_suffix(".amazonaws.com")
                .and_then(|h| h.strip_prefix("s3.").or_else(|| h.strip_prefix("s3-")))
                .filter(|r| !r.is_empty() && *r != "dualstack" && !r.starts_with("external"))
                .map(str::to_string);
            (None, region)
        } else {
            (
                Some(format!("{}://{host}", scheme.unwrap_or("https"))),
                None,
            )
        };
        Ok(S3Location {
            endpoint,
            region,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let custom = S3Location::parse("http://127.0.0.1:3900/bucket/some/prefix/").unwrap();
        assert_eq!(custom.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(custom.bucket, "bucket");
        assert_eq!(custom.prefix, "some/prefix");
        let aws = S3Location::parse("s3.amazonaws.com/my-backups/host1").unwrap();
        assert_eq!(aws.endpoint, None);
        assert_eq!(aws.region, None);
        assert_eq!(aws.prefix, "host1");
        let regional = S3Location::parse("s3.eu-west-3.amazonaws.com/b01").unwrap();
        assert_eq!(regional.region.as_deref(), Some("eu-west-3"));
        assert_eq!(regional.prefix, "");
        let bare = S3Location::parse("minio.internal:9000/backups").unwrap();
        assert_eq!(
            bare.endpoint.as_deref(),
            Some("https://minio.internal:9000")
        );
        for bad in [
            "http://host",
            "ftp://host/b",
            "https://key:secret@host/bucket",
            "host/UPPER",
            "host/ab",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }
}
