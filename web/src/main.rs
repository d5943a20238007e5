fn main() {
    eprintln!("d4-web: not implemented yet");
    std::process::exit(2);
}
