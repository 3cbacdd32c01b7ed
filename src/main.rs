//! The `tidewatch` command line.

fn main() {
    println!("tidewatch");
}
