#[path = "support/anotherpass_sim/mod.rs"]
mod anotherpass_sim;

#[test]
fn starts() {
    let sim = anotherpass_sim::Sim::start(anotherpass_sim::SimConfig::fast());
    assert!(sim.port() > 0);
}
