//! Quantizes the shipped router model once, when the binary is built: the
//! 16-bit weights routing reads, and their scale. The binary then reads
//! both in place, so a process holds only the rows its texts touch.

use std::path::PathBuf;

#[path = "src/linear/form.rs"]
#[allow(dead_code)]
mod form;

fn main() {
    let model = "data/router-model.bin";
    println!("cargo:rerun-if-changed={model}");
    println!("cargo:rerun-if-changed=src/linear/form.rs");
    let bytes = std::fs::read(model)
        .unwrap_or_else(|e| panic!("cannot read the shipped router model {model}: {e}"));
    let Some(parts) = form::split(&bytes) else {
        panic!("{model} is not a router model: expected the form `LinearModel::to_bytes` writes");
    };
    let scale = form::scale_of(form::floats(parts.weights));
    let q: Vec<u8> = form::floats(parts.weights)
        .flat_map(|w| form::quantize(w, scale).to_le_bytes())
        .collect();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("router-model.q16"), q).expect("write the quantized model");
    std::fs::write(
        out.join("router-model-scale.rs"),
        format!("f32::from_bits({:#010x})\n", scale.to_bits()),
    )
    .expect("write the quantized model's scale");
}
