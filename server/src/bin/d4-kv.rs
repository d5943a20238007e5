fn main() {
    eprintln!("d4-kv: not implemented yet");
    std::process::exit(2);
}
