//! A Java oracle for integration tests: runs a small JDK program from `engine/tests/java/` and
//! asks it to evaluate operations the way AWS IoT's rules engine (a JVM service) does
//! (`java.util.regex`, `String`'s UTF-16 indices, `BigDecimal`, ...).
//!
//! Use it from an integration test with `mod java_oracle;`, then
//! `Oracle::start("StringOracle").call_many(&requests)`.
//!
//! Every `engine/tests/java/*.java` is compiled once with `javac` into
//! `$CARGO_TARGET_TMPDIR/java-oracle/<hash of the sources>/`: a new source or an edited one gives a
//! new hash, and concurrent tests (nextest runs each test in its own process) compile into private
//! temporary directories and rename the result into place, so none sees a half-written class.
//!
//! Protocol (one line each way per request): the request's fields, each base64 (UTF-8), separated
//! by a tab, the first field the operation's name; the answer `=<base64 value>` for a value or
//! `!<base64 message>` when the operation has no value (undefined, or Java threw).
//!
//! A missing JDK is an error, not a skipped test: install `openjdk-17-jdk-headless`
//! (`scripts/test.sh` does).

#![allow(dead_code)] // Each test binary uses its own part of the API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const JDK_HINT: &str = "the Java oracle tests need a JDK 17: install `openjdk-17-jdk-headless` \
     (apt-get install openjdk-17-jdk-headless; scripts/test.sh installs it when javac is missing)";

/// A running Java oracle program.
pub struct Oracle {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    class: String,
}

impl Oracle {
    /// Compiles the Java sources (once, shared by every test) and starts `java <class>`.
    /// Panics with an installation hint when `javac` or `java` is missing.
    pub fn start(class: &str) -> Oracle {
        let classes = compiled_classes();
        let mut child = Command::new("java")
            .arg("-Xss16m") // deep regex recursion raises StackOverflowError later
            .arg("-cp")
            .arg(&classes)
            .arg(class)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `java` ({e}): {JDK_HINT}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle {
            child,
            stdin,
            stdout,
            class: class.to_owned(),
        }
    }

    /// Sends every request (from a writer thread, so neither side blocks on a full pipe) and
    /// reads one answer per request, in order: `Ok(value)` or `Err(message)`.
    pub fn call_many(&mut self, requests: &[Vec<String>]) -> Vec<Result<String, String>> {
        let lines: Vec<String> = requests
            .iter()
            .map(|fields| {
                assert!(!fields.is_empty(), "a request needs an operation name");
                fields
                    .iter()
                    .map(|f| B64.encode(f.as_bytes()))
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect();
        let stdin = self.stdin.take().expect("oracle stdin");
        let writer = std::thread::spawn(move || {
            let mut w = BufWriter::new(stdin);
            for line in &lines {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
            w.into_inner().map_err(|e| e.into_error())
        });
        let mut answers = Vec::with_capacity(requests.len());
        let mut line = String::new();
        for request in requests {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("reading the {} oracle: {e}", self.class));
            assert!(
                n > 0,
                "the {} oracle stopped before answering {request:?}",
                self.class
            );
            answers.push(decode_answer(line.trim_end_matches(['\n', '\r'])));
        }
        let stdin = writer
            .join()
            .expect("oracle writer thread")
            .unwrap_or_else(|e| panic!("writing to the {} oracle: {e}", self.class));
        self.stdin = Some(stdin);
        answers
    }

    /// One request.
    pub fn call(&mut self, request: Vec<String>) -> Result<String, String> {
        self.call_many(&[request]).remove(0)
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        drop(self.stdin.take()); // end of input: the program exits
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

fn decode_answer(line: &str) -> Result<String, String> {
    let text = |b64: &str| {
        let bytes = B64
            .decode(b64)
            .unwrap_or_else(|e| panic!("oracle answer {line:?} is not base64: {e}"));
        String::from_utf8(bytes).expect("oracle answers are UTF-8")
    };
    match line.split_at_checked(1) {
        Some(("=", v)) => Ok(text(v)),
        Some(("!", m)) => Err(text(m)),
        _ => panic!("malformed oracle answer {line:?}"),
    }
}

/// The directory of the compiled classes, compiling the sources when they changed.
fn compiled_classes() -> PathBuf {
    let src_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", src_dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "java"))
        .collect();
    sources.sort();
    assert!(
        !sources.is_empty(),
        "no Java source in {}",
        src_dir.display()
    );
    let mut hasher = DefaultHasher::new();
    for p in &sources {
        p.file_name().hash(&mut hasher);
        std::fs::read(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .hash(&mut hasher);
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("java-oracle");
    let dir = root.join(format!("{:016x}", hasher.finish()));
    if dir.join(".complete").exists() {
        return dir;
    }
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = root.join(format!("tmp-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    let output = Command::new("javac")
        .arg("-encoding")
        .arg("UTF-8")
        .arg("-d")
        .arg(&tmp)
        .args(&sources)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `javac` ({e}): {JDK_HINT}"));
    assert!(
        output.status.success(),
        "javac failed on {}:\n{}",
        src_dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(tmp.join(".complete"), b"").expect("marker file");
    // Another process may have won the race: its classes are the same, keep them.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            dir.join(".complete").exists(),
            "cannot place the compiled oracle at {}",
            dir.display()
        );
    }
    dir
}
