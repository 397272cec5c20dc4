//! Helpers shared by the fuzz targets in `fuzz_targets/`: cutting a byte stream into the chunks
//! a socket might deliver, and the reference models the targets compare ferry-proto against.
//!
//! Nothing here is used by Ferry itself.

/// Cuts `data` into consecutive chunks whose lengths are `cut + 1` for each byte of `cuts` in
/// turn (cycling), so a fuzzer can try every way a socket could split the stream. The chunks
/// joined back together are `data`.
pub fn chunks<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = cuts.iter().cycle();
    while !rest.is_empty() {
        let size = sizes
            .next()
            .map_or(rest.len(), |&cut| usize::from(cut) + 1)
            .min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        out.push(chunk);
        rest = tail;
    }
    out
}

/// The Telnet filtering `LineBuffer` promises, written out independently: `IAC IAC` is one 0xFF
/// byte, `IAC WILL/WONT/DO/DONT opt` and `IAC x` vanish.
pub fn strip_telnet(line: &[u8]) -> Vec<u8> {
    const IAC: u8 = 0xFF;
    let mut out = Vec::new();
    let mut index = 0;
    while index < line.len() {
        if line[index] != IAC {
            out.push(line[index]);
            index += 1;
            continue;
        }
        match line.get(index + 1) {
            Some(&IAC) => {
                out.push(IAC);
                index += 2;
            }
            Some(251..=254) => index += 3,
            _ => index += 2,
        }
    }
    out
}

/// What the reply encoder does to text: CR and LF become spaces.
pub fn clean(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_data() {
        let data: Vec<u8> = (0..100).collect();
        for cuts in [&[][..], &[0], &[3, 0, 200], &[255]] {
            assert_eq!(chunks(&data, cuts).concat(), data);
        }
        assert_eq!(chunks(b"abcde", &[1]), vec![&b"ab"[..], b"cd", b"e"]);
    }

    #[test]
    fn telnet_model() {
        assert_eq!(strip_telnet(&[0xFF, 244, b'A']), b"A");
        assert_eq!(strip_telnet(&[b'x', 0xFF, 0xFF]), [b'x', 0xFF]);
        assert_eq!(strip_telnet(&[0xFF, 253, 1, b'y', 0xFF]), b"y");
    }
}
