//! The `formwork` binary: parses the command line and runs it.

use clap::Parser as _;
use server::cli::{self, Cli};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli::init_logging(&cli.config)?;
    cli::run(cli).await
}
