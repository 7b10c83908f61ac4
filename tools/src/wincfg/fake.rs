//! A recording [`WinSystem`] for tests. Built only in this crate's unit
//! tests and with the `fake-windows` feature, which only the crate's
//! dev-dependency on itself turns on (for tools/tests/wincfg.rs), so the
//! release program does not carry it.

#[allow(unused_imports)]
use super::*;

/// A [`WinSystem`] in memory that records every call, for tests on any
/// platform. Set `fail` to make the call whose name starts with it fail.
#[derive(Clone, Debug, Default)]
pub struct FakeSystem {
    pub calls: Vec<String>,
    pub adapters: Vec<Adapter>,
    /// HKLM as key → (value name → text).
    pub registry: BTreeMap<String, BTreeMap<String, String>>,
    /// The INF's class as (name, GUID); the Net class if `None`.
    pub inf_class: Option<(String, String)>,
    pub fail: Option<String>,
    /// Index of the next device `create_root_device` makes.
    pub next_index: u32,
}

impl FakeSystem {
    fn call(&mut self, text: String) -> Result<(), String> {
        let failing = self.fail.as_deref().is_some_and(|f| text.starts_with(f));
        self.calls.push(text.clone());
        if failing {
            Err(format!("{text}: failed (fake)"))
        } else {
            Ok(())
        }
    }
}

impl WinSystem for FakeSystem {
    fn inf_class(&mut self, inf: &Path) -> Result<(String, String), String> {
        self.call(format!("inf_class {}", inf.display()))?;
        Ok(self
            .inf_class
            .clone()
            .unwrap_or_else(|| (NET_CLASS_NAME.into(), NET_CLASS_GUID.into())))
    }

    fn create_root_device(&mut self, hardware_id: &str) -> Result<String, String> {
        self.call(format!("create_root_device {hardware_id}"))?;
        let id = format!("ROOT\\NET\\{:04}", self.next_index);
        self.adapters.push(Adapter {
            instance_id: id.clone(),
            present: true,
            ..Adapter::default()
        });
        self.next_index += 1;
        Ok(id)
    }

    fn update_driver(&mut self, inf: &Path, hardware_id: &str) -> Result<bool, String> {
        self.call(format!("update_driver {} {hardware_id}", inf.display()))?;
        for (i, a) in self.adapters.iter_mut().enumerate() {
            if a.driver.is_empty() {
                a.driver = format!("{NET_CLASS_GUID}\\{:04}", 10 + i);
                a.inf_path = Some("oem7.inf".into());
            }
        }
        Ok(false)
    }

    fn adapters(&mut self) -> Result<Vec<Adapter>, String> {
        self.call("adapters".into())?;
        Ok(self.adapters.clone())
    }

    fn remove_device(&mut self, instance_id: &str) -> Result<bool, String> {
        self.call(format!("remove_device {instance_id}"))?;
        self.adapters.retain(|a| a.instance_id != instance_id);
        Ok(false)
    }

    fn delete_driver_package(&mut self, oem_inf: &str) -> Result<(), String> {
        self.call(format!("delete_driver_package {oem_inf}"))
    }

    fn read_values(&mut self, key: &str) -> Result<BTreeMap<String, String>, String> {
        self.call(format!("read_values {key}"))?;
        Ok(self.registry.get(key).cloned().unwrap_or_default())
    }

    fn write_value(&mut self, write: &RegWrite) -> Result<(), String> {
        let text = match &write.data {
            RegData::Sz(v) => format!("write_value {}\\{} = REG_SZ {v}", write.key, write.name),
            RegData::Delete => format!("write_value {}\\{} deleted", write.key, write.name),
        };
        self.call(text)?;
        let key = self.registry.entry(write.key.clone()).or_default();
        key.retain(|k, _| !k.eq_ignore_ascii_case(write.name));
        if let RegData::Sz(v) = &write.data {
            key.insert(write.name.to_string(), v.clone());
        }
        Ok(())
    }

    fn restart_device(&mut self, instance_id: &str) -> Result<bool, String> {
        self.call(format!("restart_device {instance_id}"))?;
        Ok(false)
    }
}
