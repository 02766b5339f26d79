// Baseline for benches/host.rs: the least a native messaging host can do (read a frame, write it
// back), compiled with rustc -O in the same bench run. Not part of passbridge.
use std::io::{Read, Write};

fn main() {
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut prefix = [0u8; 4];
    while input.read_exact(&mut prefix).is_ok() {
        let mut body = vec![0u8; u32::from_ne_bytes(prefix) as usize];
        if input.read_exact(&mut body).is_err() {
            break;
        }
        let mut frame = prefix.to_vec();
        frame.extend_from_slice(&body);
        if output.write_all(&frame).and_then(|_| output.flush()).is_err() {
            break;
        }
    }
}
