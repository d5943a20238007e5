fn main() {
    eprintln!("d4-client: not implemented yet");
    std::process::exit(2);
}
