//! The two kinds of broker rulewire runs against, so one scenario can be tested on both: a
//! private Mosquitto, or rulewire's own embedded broker on a free port.

use super::{Mosquitto, free_port};

pub enum TestBroker {
    Mosquitto(Mosquitto),
    Embedded { port: u16 },
}

impl TestBroker {
    pub fn mosquitto() -> TestBroker {
        TestBroker::Mosquitto(Mosquitto::start())
    }

    pub fn embedded() -> TestBroker {
        TestBroker::Embedded { port: free_port() }
    }

    /// Where test clients connect.
    pub fn port(&self) -> u16 {
        match self {
            TestBroker::Mosquitto(m) => m.port,
            TestBroker::Embedded { port } => *port,
        }
    }

    /// The `rulewire.toml` lines that put rulewire on this broker as `client_id`.
    pub fn config(&self, client_id: &str) -> String {
        match self {
            TestBroker::Mosquitto(m) => {
                format!(
                    "[broker]\nurl = \"{}\"\nclient_id = \"{client_id}\"\n",
                    m.url()
                )
            }
            TestBroker::Embedded { port } => format!(
                "[broker]\nclient_id = \"{client_id}\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n"
            ),
        }
    }
}
