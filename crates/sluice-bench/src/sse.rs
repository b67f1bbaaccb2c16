//! Server-sent events framing: turns the body's byte chunks into `data:` payloads.
//!
//! Every server we drive (TGI, vLLM, Aphrodite, llama-server, sluice) puts one JSON object on
//! one `data:` line, so a payload is a line, and blank lines, comments (`:` keep-alives) and
//! `event:`/`id:` fields carry nothing we need. The buffer is reused: no allocation per event.

/// Incremental splitter of an SSE body into `data:` payloads.
#[derive(Default)]
pub struct SseLines {
    buf: Vec<u8>,
}

impl SseLines {
    /// Appends `chunk` and calls `on_data` with the payload of each complete `data:` line, with
    /// the optional space after the colon and a trailing `\r` removed. Stops early and returns
    /// `false` when `on_data` does.
    pub fn push(&mut self, chunk: &[u8], mut on_data: impl FnMut(&[u8]) -> bool) -> bool {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        let mut keep_going = true;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = trim_cr(&self.buf[start..start + nl]);
            start += nl + 1;
            if let Some(payload) = line.strip_prefix(b"data:") {
                let payload = payload.strip_prefix(b" ").unwrap_or(payload);
                if !on_data(payload) {
                    keep_going = false;
                    break;
                }
            }
        }
        self.buf.drain(..start);
        keep_going
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<String> {
        let mut sse = SseLines::default();
        let mut out = Vec::new();
        for c in chunks {
            sse.push(c, |d| {
                out.push(String::from_utf8(d.to_vec()).unwrap());
                true
            });
        }
        out
    }

    #[test]
    fn splits_across_chunk_boundaries() {
        let got = collect(&[
            b"data: {\"a\"",
            b":1}\n\n: keep-alive\n\ndata:[DONE]\r\n",
            b"\r\n",
        ]);
        assert_eq!(got, vec!["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn ignores_other_fields_and_waits_for_line_ends() {
        let mut sse = SseLines::default();
        let mut n = 0;
        sse.push(b"event: message\nid: 3\ndata: x\n\ndata: y", |_| {
            n += 1;
            true
        });
        assert_eq!(n, 1);
        sse.push(b"\n", |_| {
            n += 1;
            true
        });
        assert_eq!(n, 2);
    }

    #[test]
    fn stops_when_asked() {
        let mut sse = SseLines::default();
        let mut seen = 0;
        let more = sse.push(b"data: 1\ndata: 2\n", |_| {
            seen += 1;
            false
        });
        assert!(!more);
        assert_eq!(seen, 1);
    }
}
