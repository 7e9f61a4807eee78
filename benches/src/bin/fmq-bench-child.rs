//! The child process of the cross-process scenarios: `fmq-bench-child ROLE key=value...`
//! (roles in `fmq_benches::child`). Started by the bench files, never by hand.

fn main() {
    let mut args = std::env::args().skip(1);
    let role = args
        .next()
        .expect("usage: fmq-bench-child ROLE key=value...");
    let a = fmq_benches::child::Args::parse(args);
    // SAFETY:
    // 1. This process was started by `Children::spawn` with the numbers of the descriptors
    //    it inherited for its role (the bench drops its own copies); nothing in this process
    //    has opened or adopted them before this single call.
    unsafe { fmq_benches::child::run(&role, &a) };
}
