fn main() {
    eprintln!("d4-passivedns: not implemented yet");
    std::process::exit(2);
}
