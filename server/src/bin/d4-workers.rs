fn main() {
    eprintln!("d4-workers: not implemented yet");
    std::process::exit(2);
}
