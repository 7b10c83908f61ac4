//! The Win32 side: the [`WinSystem`] trait the steps run against, and
//! running them.

#[allow(unused_imports)]
use super::*;

/// The Windows services the installer uses. Each error is one line saying
/// what failed (the Win32 layer includes the system's error text).
pub trait WinSystem {
    /// The class name and class GUID an INF declares.
    fn inf_class(&mut self, inf: &Path) -> Result<(String, String), String>;
    /// Creates a root-enumerated Net device node with `hardware_id`;
    /// returns its instance ID.
    fn create_root_device(&mut self, hardware_id: &str) -> Result<String, String>;
    /// Installs the INF's driver on the devices with `hardware_id`, adding
    /// the package to the driver store. Returns whether Windows asks for a
    /// reboot.
    fn update_driver(&mut self, inf: &Path, hardware_id: &str) -> Result<bool, String>;
    /// Every device node with [`HARDWARE_ID`], present or not, with its
    /// driver property, connection name and INF.
    fn adapters(&mut self) -> Result<Vec<Adapter>, String>;
    /// Removes a device node. Returns whether Windows asks for a reboot.
    fn remove_device(&mut self, instance_id: &str) -> Result<bool, String>;
    /// Removes a package (`oemNN.inf`) from the driver store.
    fn delete_driver_package(&mut self, oem_inf: &str) -> Result<(), String>;
    /// The REG_SZ values of `HKLM\key` (others are skipped).
    fn read_values(&mut self, key: &str) -> Result<BTreeMap<String, String>, String>;
    /// Writes (REG_SZ) or deletes one value under HKLM.
    fn write_value(&mut self, write: &RegWrite) -> Result<(), String>;
    /// Restarts a device so its driver starts again. Returns whether
    /// Windows asks for a reboot.
    fn restart_device(&mut self, instance_id: &str) -> Result<bool, String>;
}

/// What running a list of steps did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Instance ID of the device `CreateDevice` made.
    pub created: Option<String>,
    /// Windows asked for a reboot to finish.
    pub reboot: bool,
    /// One line per step done, for the user.
    pub done: Vec<String>,
}

/// Runs `steps` in order and stops at the first failure. If installing the
/// driver fails after the device was created, the device is removed again,
/// so a failed install leaves no driverless adapter behind.
pub fn run_steps(system: &mut dyn WinSystem, steps: &[Step]) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    for step in steps {
        let result = run_step(system, step, &mut outcome);
        if let Err(error) = result {
            if let (Step::InstallDriver { .. }, Some(created)) = (step, &outcome.created) {
                return Err(match system.remove_device(created) {
                    Ok(_) => format!("{error} (the new device {created} was removed again)"),
                    Err(e) => format!(
                        "{error}; removing the new device {created} failed too ({e}): remove it in Device Manager"
                    ),
                });
            }
            return Err(error);
        }
    }
    Ok(outcome)
}

fn run_step(system: &mut dyn WinSystem, step: &Step, outcome: &mut Outcome) -> Result<(), String> {
    match step {
        Step::CheckInf { inf } => {
            let (class, guid) = system.inf_class(inf)?;
            if !class.eq_ignore_ascii_case(NET_CLASS_NAME)
                || !guid.eq_ignore_ascii_case(NET_CLASS_GUID)
            {
                return Err(format!(
                    "{} installs class {class} {guid}, not a network adapter: give the volnic.inf of the driver package",
                    inf.display()
                ));
            }
            outcome.done.push(format!("checked {}", inf.display()));
        }
        Step::CreateDevice => {
            let id = system.create_root_device(HARDWARE_ID)?;
            outcome.done.push(format!("created device {id}"));
            outcome.created = Some(id);
        }
        Step::InstallDriver { inf } => {
            outcome.reboot |= system.update_driver(inf, HARDWARE_ID)?;
            outcome
                .done
                .push(format!("installed the driver from {}", inf.display()));
        }
        Step::RemoveDevice { instance_id } => {
            outcome.reboot |= system.remove_device(instance_id)?;
            outcome.done.push(format!("removed device {instance_id}"));
        }
        Step::DeleteDriverPackage { oem_inf } => {
            system.delete_driver_package(oem_inf)?;
            outcome
                .done
                .push(format!("deleted driver package {oem_inf}"));
        }
        Step::Write(write) => {
            system.write_value(write)?;
            outcome.done.push(match &write.data {
                RegData::Sz(v) => format!("set {} = {v}", write.name),
                RegData::Delete => format!("removed {}", write.name),
            });
        }
        Step::RestartDevice { instance_id } => {
            outcome.reboot |= system.restart_device(instance_id)?;
            outcome.done.push(format!("restarted {instance_id}"));
        }
    }
    Ok(())
}
