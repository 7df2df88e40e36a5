//! Choosing where training runs from `[train] device`.

use tch::{Cuda, Device};

/// The device `[train] device` names: "auto" takes the first GPU when there is one.
pub fn device_from(setting: &str) -> Result<Device, String> {
    let gpus = Cuda::device_count();
    let index = match setting {
        "auto" => return Ok(Device::cuda_if_available()),
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| format!("[train] device = \"{other}\" is not a device"))?,
    };
    if !Cuda::is_available() {
        return Err(format!(
            "[train] device = \"{setting}\", but this machine has no CUDA device that libtorch can \
             use; use \"auto\" or \"cpu\""
        ));
    }
    if index as i64 >= gpus {
        return Err(format!(
            "[train] device = \"{setting}\", but this machine has {gpus} CUDA device{} (cuda:0 to \
             cuda:{})",
            if gpus == 1 { "" } else { "s" },
            gpus - 1
        ));
    }
    Ok(Device::Cuda(index))
}
