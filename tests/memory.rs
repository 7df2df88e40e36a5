//! Reading a corpus file much larger than a piece keeps memory far below its size. In a
//! test binary of its own, so no other test's child processes count.

mod common;

use common::muse;

/// The largest resident size of any child this process has waited for, in kilobytes.
fn peak_child_kilobytes() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss
}

#[test]
fn a_large_file_is_read_in_bounded_memory() {
    let dir = common::scratch();
    std::fs::write(dir.join("small.txt"), "a small poem\n").unwrap();
    let small = muse(&dir, &["corpus", "stats", "small.txt"]);
    assert!(small.status.success());
    let baseline = peak_child_kilobytes();

    // Written in pieces: a forked child briefly counts its parent's memory as its own,
    // so this process must not hold the text itself.
    let line = "the lamp, the harbour, the long slow tide\n";
    let lines = 3_000_000;
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("large.txt")).unwrap());
    for _ in 0..lines {
        std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
    }
    drop(file);
    let length = (line.len() * lines) as u64;
    let large = muse(&dir, &["corpus", "stats", "--json", "large.txt"]);
    assert!(large.status.success(), "{}", String::from_utf8_lossy(&large.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&large.stdout).unwrap();
    assert_eq!(stats["characters"].as_u64().unwrap(), length - 1, "all but the last newline");

    let peak = peak_child_kilobytes();
    let grown = peak - baseline;
    let size = length as i64 / 1024;
    assert!(grown < size / 4, "reading {size} KB grew memory by {grown} KB");
}
