fn main() {
    eprintln!("pdns-cof-server: not implemented yet");
    std::process::exit(2);
}
