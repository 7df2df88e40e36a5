//! Corpus speed on the Tang poems: loading, cleaning, splitting and character-tokenising
//! the whole folder, and training a BPE vocabulary of 2000 on it. Run with `make bench`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use muse::config::{Config, TokenizerKind};
use muse::train;

fn tang() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/tang");
    path.is_dir().then_some(path)
}

fn config(tang: &Path, kind: TokenizerKind) -> Config {
    let mut config = Config::default();
    config.corpus.paths = vec![tang.display().to_string()];
    config.corpus.text_field = "paragraphs".into();
    config.corpus.title_field = Some("title".into());
    config.tokenizer.kind = kind;
    config.tokenizer.vocab_size = 2000;
    config.resolved()
}

/// Seconds for each of `runs` calls of `work`.
fn time(runs: usize, mut work: impl FnMut()) -> Vec<f64> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64()
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak resident size of `muse corpus stats` on a 1 GB text file, against the same
/// command on a tiny file, from the kernel's accounting of finished children.
fn one_gigabyte() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "a small poem\n").unwrap();
    let large = dir.path().join("large.txt");
    let line = "the lamp, the harbour, the long slow tide, the gulls over the quay\n";
    let mut file = std::io::BufWriter::new(std::fs::File::create(&large).unwrap());
    let mut written = 0u64;
    while written < 1 << 30 {
        std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
        written += line.len() as u64;
    }
    drop(file);

    let muse = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/muse");
    let run = |path: &Path| {
        let started = Instant::now();
        let status = std::process::Command::new(&muse)
            .args(["corpus", "stats", "--json"])
            .arg(path)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        (started.elapsed().as_secs_f64(), peak_child_megabytes())
    };
    let (_, baseline) = run(&small);
    let (seconds, peak) = run(&large);
    println!(
        "corpus: stats on a {:.2} GB text file: {seconds:.1} s, peak resident {peak:.0} MB (a tiny file: {baseline:.0} MB)",
        written as f64 / 1e9
    );
}

fn peak_child_megabytes() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

fn main() {
    // First, while this process is small: a spawned child can count its parent's pages.
    one_gigabyte();

    let Some(tang) = tang() else {
        println!("corpus: skipped, ../shared/corpora/tang is not here");
        return;
    };
    let char_config = config(&tang, TokenizerKind::Char);
    let mut documents = 0;
    let mut tokens = 0;
    let cold = time(5, || {
        let dataset = train::prepare(&char_config, Path::new("/"), None).unwrap();
        documents = dataset.report.documents;
        tokens = dataset.train.len() + dataset.val.len();
    });
    println!(
        "corpus: tang char, load+clean+split+tokenise: median {:.3} s of 5 ({documents} documents, {tokens} tokens; target < 2 s)",
        median(cold)
    );

    let cache = tempfile::tempdir().unwrap();
    train::prepare(&char_config, Path::new("/"), Some(cache.path())).unwrap();
    let warm = time(5, || {
        train::prepare(&char_config, Path::new("/"), Some(cache.path())).unwrap();
    });
    println!(
        "corpus: tang char, unchanged corpus from the cache: median {:.3} s of 5",
        median(warm)
    );

    let bpe_config = config(&tang, TokenizerKind::Bpe);
    let bpe = time(3, || {
        train::prepare(&bpe_config, Path::new("/"), None).unwrap();
    });
    let bpe = median(bpe);
    let char_time = median(time(3, || {
        train::prepare(&char_config, Path::new("/"), None).unwrap();
    }));
    println!(
        "corpus: tang bpe 2000, prepare: median {bpe:.2} s of 3; BPE training alone about {:.2} s (target < 20 s)",
        bpe - char_time
    );
}
