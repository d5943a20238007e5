fn main() {
    eprintln!("d4-sensor: not implemented yet");
    std::process::exit(2);
}
