fn main() {
    eprintln!("d4-server: not implemented yet");
    std::process::exit(2);
}
