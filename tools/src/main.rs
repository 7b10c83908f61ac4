fn main() {
    println!("volnic: work in progress");
}
