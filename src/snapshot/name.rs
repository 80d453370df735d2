//! Node names and link targets: arbitrary bytes, stored as a JSON string when
//! valid UTF-8 and as `{"b64": "..."}` otherwise, so names round-trip bit for bit.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserializer, Serializer};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A file name or symlink target as raw bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeName(pub Vec<u8>);

impl NodeName {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// For display: lossy UTF-8.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// The name as a path component, its bytes unchanged (Unix).
    pub fn as_os_str(&self) -> &std::ffi::OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl From<&str> for NodeName {
    fn from(s: &str) -> Self {
        NodeName(s.as_bytes().to_vec())
    }
}

impl serde::Serialize for NodeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("b64", &B64.encode(&self.0))?;
                m.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or {\"b64\": string}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeName, E> {
                Ok(NodeName(v.as_bytes().to_vec()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeName, A::Error> {
                // Other members are ignored (room for later fields); a
                // repeated `b64` is ambiguous and refused.
                let mut out = None;
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if k == "b64" {
                        if out.is_some() {
                            return Err(de::Error::duplicate_field("b64"));
                        }
                        let v: std::borrow::Cow<'de, str> = map.next_value()?;
                        out = Some(B64.decode(v.as_bytes()).map_err(de::Error::custom)?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                out.map(NodeName)
                    .ok_or_else(|| de::Error::missing_field("b64"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_raw_round_trip() {
        for bytes in [
            b"plain.txt".to_vec(),
            vec![0xff, 0xfe, b'a'],
            "é".as_bytes().to_vec(),
        ] {
            let n = NodeName(bytes);
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<NodeName>(&json).unwrap(), n);
        }
        assert_eq!(
            serde_json::to_string(&NodeName(vec![0xff])).unwrap(),
            r#"{"b64":"/w=="}"#
        );
        let extra: NodeName = serde_json::from_str(r#"{"b64":"YQ==","x":1}"#).unwrap();
        assert_eq!(extra.as_bytes(), b"a");
        assert!(serde_json::from_str::<NodeName>(r#"{"b64":"YQ==","b64":"Yg=="}"#).is_err());
    }
}
