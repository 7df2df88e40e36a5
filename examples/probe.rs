use muse::model::{self, LanguageModel};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn steps(model: &dyn LanguageModel, opt: &mut muse::train::AdamW, n: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        let batch = Tensor::randint(65, [12, 65], (Kind::Int64, Device::Cpu));
        opt.zero_grad();
        let loss = model.loss(&muse::model::Batch { tokens: batch, lengths: None }, true, 0).total;
        loss.backward();
        let norm = opt.grad_norm();
        let _ = Tensor::stack(&[loss.detach(), norm], 0).double_value(&[0]);
        opt.step(1e-3);
    }
    t.elapsed().as_secs_f64() * 1000.0 / n as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "mallopt") {
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        }
    }
    if let Some(t) = args.iter().find_map(|a| a.strip_prefix("threads=")) {
        tch::set_num_threads(t.parse().unwrap());
    }
    let spec = model::ModelSpec {
        kind: muse::config::ModelKind::Gpt,
        vocab: 66,
        layers: 4,
        hidden: 0,
        embedding: 128,
        context: 64,
        dropout: 0.0,
        heads: 4,
        latent: 0,
        kl_warmup_steps: 0,
        input_dropout: 0.0,
    };
    let work = move || {
        let model = model::build(&spec, Device::Cpu);
        let mut opt = muse::train::AdamW::new(model.named_weights(), Default::default());
        steps(model.as_ref(), &mut opt, 20);
        let mut times: Vec<f64> = (0..8).map(|_| steps(model.as_ref(), &mut opt, 15)).collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let median = if args.iter().any(|a| a == "thread") {
        std::thread::spawn(work).join().unwrap()
    } else {
        work()
    };
    println!("median {median:.2} ms a step");
}
