//! Where an etcd cluster is: `etcd://HOST:PORT[,HOST:PORT...]` locations
//! (`etcds://` for TLS). Beside the client, so that both the etcd source and
//! the etcd restore name a cluster without depending on each other.

/// A malformed `etcd://` location.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct LocationError {
    /// The location as given.
    pub location: String,
    /// What is wrong.
    pub reason: String,
}

/// A parsed `etcd://` or `etcds://` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdLocation {
    /// Base URLs of the endpoints (`http://127.0.0.1:2379`).
    pub endpoints: Vec<String>,
    /// The location as given, for records and messages.
    pub text: String,
}

/// Whether a backup or restore argument names an etcd cluster.
pub fn is_etcd_location(text: &str) -> bool {
    text.starts_with("etcd://") || text.starts_with("etcds://")
}

/// Parses `etcd://HOST:PORT[,HOST:PORT...]`; `etcds://` means HTTPS.
pub fn parse_location(text: &str) -> Result<EtcdLocation, LocationError> {
    let bad = |reason: &str| LocationError {
        location: text.to_string(),
        reason: reason.to_string(),
    };
    let (scheme, rest) = if let Some(rest) = text.strip_prefix("etcd://") {
        ("http", rest)
    } else if let Some(rest) = text.strip_prefix("etcds://") {
        ("https", rest)
    } else {
        return Err(bad("an etcd location starts with etcd:// or etcds://"));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(bad("give at least one HOST:PORT"));
    }
    let mut endpoints = Vec::new();
    for hostport in rest.split(',') {
        let valid = !hostport.is_empty()
            && !hostport.contains('/')
            && !hostport.contains('@')
            && hostport
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !valid {
            return Err(bad(&format!(
                "'{hostport}' is not HOST:PORT (for example 127.0.0.1:2379)"
            )));
        }
        endpoints.push(format!("{scheme}://{hostport}"));
    }
    Ok(EtcdLocation {
        endpoints,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = parse_location("etcd://127.0.0.1:2379,10.0.0.2:2379").unwrap();
        assert_eq!(
            l.endpoints,
            vec!["http://127.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        let l = parse_location("etcds://[::1]:2379/").unwrap();
        assert_eq!(l.endpoints, vec!["https://[::1]:2379"]);
        for bad in [
            "etcd://",
            "etcd://host",
            "etcd://host:port",
            "etcd://a:1,",
            "etcd://u@h:1",
            "http://h:1",
        ] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
        assert!(is_etcd_location("etcds://x:1"));
        assert!(!is_etcd_location("/etcd"));
    }
}
