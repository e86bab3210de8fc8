//! `TraceId`: a message's `traceid()` (also the error payload's `cloudwatchTraceId`), kept
//! inline. Every routed message gets one, so it is built and moved without an allocation: a
//! UUID's 36 characters fit, and longer ids are refused rather than cut.

use std::fmt;
use std::ops::Deref;

/// A trace id of at most [`TraceId::MAX_LEN`] bytes of UTF-8; reads as a `&str`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId {
    len: u8,
    bytes: [u8; TraceId::MAX_LEN],
}

/// An id longer than [`TraceId::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a trace id holds at most {max} bytes; this one has {len}", max = TraceId::MAX_LEN)]
pub struct TraceIdTooLong {
    pub len: usize,
}

impl TraceId {
    /// A UUID's length: what `traceid()` returns on AWS.
    pub const MAX_LEN: usize = 36;

    pub fn as_str(&self) -> &str {
        // Only ever filled from a `&str`, cut at its end.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Default for TraceId {
    /// The empty id (a message nobody gave one).
    fn default() -> TraceId {
        TraceId {
            len: 0,
            bytes: [0; TraceId::MAX_LEN],
        }
    }
}

impl TryFrom<&str> for TraceId {
    type Error = TraceIdTooLong;

    fn try_from(id: &str) -> Result<TraceId, TraceIdTooLong> {
        let len = id.len();
        if len > TraceId::MAX_LEN {
            return Err(TraceIdTooLong { len });
        }
        let mut bytes = [0; TraceId::MAX_LEN];
        bytes[..len].copy_from_slice(id.as_bytes());
        Ok(TraceId {
            len: len as u8,
            bytes,
        })
    }
}

impl Deref for TraceId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::TraceId;

    #[test]
    fn holds_a_uuid_and_refuses_longer_ids() {
        let uuid = "7e146a2c-95b5-6caf-98b9-50e3969734c7";
        let id = TraceId::try_from(uuid).unwrap();
        assert_eq!((id.as_str(), id.len()), (uuid, 36));
        assert_eq!(format!("{id} {id:?}"), format!("{uuid} {uuid:?}"));
        assert_eq!(&*TraceId::try_from("é-1").unwrap(), "é-1");
        assert_eq!(TraceId::default().as_str(), "");
        let err = TraceId::try_from(format!("{uuid}x").as_str()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a trace id holds at most 36 bytes; this one has 37"
        );
    }
}
