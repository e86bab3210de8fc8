//! The log events of one fired message: the output as one event at the message's arrival
//! time, or (AWS's `batchMode`) one event per element of a JSON array output of
//! `{"timestamp": <epoch ms>, "message": ...}` objects.

use serde_json::Value;

/// Bytes CloudWatch Logs counts per event on top of its message.
pub(super) const EVENT_OVERHEAD: usize = 26;
/// Most bytes of one PutLogEvents request (messages plus 26 per event): 1 MiB.
pub(super) const MAX_REQUEST_BYTES: usize = 1_048_576;
/// Most bytes of one event's message (an event must fit a request alone).
pub(super) const MAX_MESSAGE_BYTES: usize = MAX_REQUEST_BYTES - EVENT_OVERHEAD;

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEvent {
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub message: String,
}

/// The events of a message whose output is `output` and arrival time `arrival_ms`; `Err`
/// says why they can never be accepted.
pub(super) fn events(
    output: &[u8],
    arrival_ms: i64,
    batch_mode: bool,
) -> Result<Vec<LogEvent>, String> {
    let events = if batch_mode {
        batch_events(output)?
    } else {
        let message = std::str::from_utf8(output)
            .map_err(|_| "the output is not UTF-8 text, which log events must be".to_owned())?;
        vec![LogEvent {
            timestamp: arrival_ms,
            message: message.to_owned(),
        }]
    };
    for (i, e) in events.iter().enumerate() {
        let which = || {
            if batch_mode {
                format!("event {i}")
            } else {
                "the event".to_owned()
            }
        };
        if e.message.is_empty() {
            return Err(format!(
                "{}: the message is empty, which CloudWatch Logs refuses",
                which()
            ));
        }
        if e.message.len() > MAX_MESSAGE_BYTES {
            return Err(format!(
                "{}: the message is {} bytes; CloudWatch Logs allows {MAX_MESSAGE_BYTES} (1 MiB less 26 bytes)",
                which(),
                e.message.len()
            ));
        }
    }
    Ok(events)
}

/// `batchMode`: `[{"timestamp": 1673520691093, "message": "..."}, ...]`. A message that is not
/// a JSON string is written as its JSON text.
fn batch_events(output: &[u8]) -> Result<Vec<LogEvent>, String> {
    const SHAPE: &str = "batch_mode: the output must be a JSON array of {\"timestamp\": <epoch ms>, \"message\": ...} objects";
    let Ok(Value::Array(elements)) = serde_json::from_slice::<Value>(output) else {
        return Err(SHAPE.to_owned());
    };
    elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let timestamp = element.get("timestamp").and_then(Value::as_i64);
            let message = match element.get("message") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
                None => None,
            };
            match (timestamp, message) {
                (Some(timestamp), Some(message)) if timestamp >= 0 => {
                    Ok(LogEvent { timestamp, message })
                }
                _ => Err(format!("{SHAPE}; element {i} is {element}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{LogEvent, events};

    fn event(timestamp: i64, message: &str) -> LogEvent {
        LogEvent {
            timestamp,
            message: message.to_owned(),
        }
    }

    #[test]
    fn one_event_at_arrival_or_one_per_element() {
        assert_eq!(
            events(b"{\"a\":1}", 7, false).unwrap(),
            [event(7, "{\"a\":1}")]
        );
        let batch =
            br#"[{"timestamp": 2, "message": "two"}, {"timestamp": 1, "message": {"x": 1}}]"#;
        assert_eq!(
            events(batch, 7, true).unwrap(),
            [event(2, "two"), event(1, "{\"x\":1}")]
        );
        assert_eq!(events(b"[]", 7, true).unwrap(), Vec::<LogEvent>::new());
    }

    #[test]
    fn what_can_never_be_an_event_is_refused() {
        for (output, batch, why) in [
            (&b"\xff"[..], false, "not UTF-8"),
            (&b""[..], false, "empty"),
            (&b"{\"a\":1}"[..], true, "must be a JSON array"),
            (&b"[{\"message\": \"m\"}]"[..], true, "element 0 is"),
            (
                &b"[{\"timestamp\": 1.5, \"message\": \"m\"}]"[..],
                true,
                "element 0 is",
            ),
            (
                &b"[{\"timestamp\": -1, \"message\": \"m\"}]"[..],
                true,
                "element 0 is",
            ),
            (
                &b"[{\"timestamp\": 1, \"message\": \"\"}]"[..],
                true,
                "event 0: the message is empty",
            ),
        ] {
            let e = events(output, 7, batch).unwrap_err();
            assert!(e.contains(why), "{output:?}: {e}");
        }
        let big = vec![b'x'; super::MAX_MESSAGE_BYTES + 1];
        assert!(events(&big, 7, false).unwrap_err().contains("bytes"));
        assert!(events(&big[1..], 7, false).is_ok());
    }
}
