//! [`WinSystem`] on Windows: SetupAPI, newdev and registry calls through
//! windows-sys, and nothing else. Which device, which key, which values and
//! in which order is decided in `wincfg`; this file only makes the calls and
//! turns failures into one line with the system's error text.
//!
//! Compiled on Windows only. Verified only there: no test on Linux runs it.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use windows_sys::core::GUID;
use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    DiUninstallDevice, SetupDiCallClassInstaller, SetupDiCreateDeviceInfoList,
    SetupDiCreateDeviceInfoW, SetupDiDestroyDeviceInfoList, SetupDiEnumDeviceInfo,
    SetupDiGetClassDevsW, SetupDiGetDeviceInstallParamsW, SetupDiGetDeviceInstanceIdW,
    SetupDiGetDeviceRegistryPropertyW, SetupDiGetINFClassW, SetupDiOpenDeviceInfoW,
    SetupDiSetClassInstallParamsW, SetupDiSetDeviceRegistryPropertyW, SetupUninstallOEMInfW,
    UpdateDriverForPlugAndPlayDevicesW, DICD_GENERATE_ID, DICS_FLAG_CONFIGSPECIFIC,
    DICS_PROPCHANGE, DIF_PROPERTYCHANGE, DIF_REGISTERDEVICE, DIGCF_PRESENT, DI_NEEDREBOOT,
    DI_NEEDRESTART, GUID_DEVCLASS_NET, HDEVINFO, INSTALLFLAG_FORCE, MAX_CLASS_NAME_LEN,
    SPDRP_DRIVER, SPDRP_HARDWAREID, SP_CLASSINSTALL_HEADER, SP_DEVINFO_DATA,
    SP_DEVINSTALL_PARAMS_W, SP_PROPCHANGE_PARAMS,
};
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS, ERROR_SUCCESS,
    INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegDeleteValueW, RegEnumValueW, RegOpenKeyExW, RegSetValueExW, HKEY,
    HKEY_LOCAL_MACHINE, KEY_READ, KEY_SET_VALUE, REG_SZ,
};

use super::{connection_key, driver_key, Adapter, RegData, RegWrite, WinSystem, HARDWARE_ID};

/// The real Windows services.
pub struct Win32System;

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain([0]).collect()
}

fn wide_path(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain([0]).collect()
}

fn from_wide(units: &[u16]) -> String {
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}

fn os_error(what: &str, code: u32) -> String {
    format!(
        "{what} failed: {} (error {code:#x})",
        std::io::Error::from_raw_os_error(code as i32)
    )
}

fn last_error(what: &str) -> String {
    // SAFETY: no preconditions; reads the calling thread's last-error value.
    os_error(what, unsafe { GetLastError() })
}

fn guid_text(g: &GUID) -> String {
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
        g.data1,
        g.data2,
        g.data3,
        g.data4[0],
        g.data4[1],
        g.data4[2],
        g.data4[3],
        g.data4[4],
        g.data4[5],
        g.data4[6],
        g.data4[7]
    )
}

fn devinfo_data() -> SP_DEVINFO_DATA {
    SP_DEVINFO_DATA {
        cbSize: size_of::<SP_DEVINFO_DATA>() as u32,
        ..SP_DEVINFO_DATA::default()
    }
}

/// A device information set, destroyed on drop.
struct DevInfoSet(HDEVINFO);

impl DevInfoSet {
    fn new(set: HDEVINFO, what: &str) -> Result<Self, String> {
        if set == INVALID_HANDLE_VALUE as HDEVINFO {
            Err(last_error(what))
        } else {
            Ok(Self(set))
        }
    }

    /// An empty Net-class set holding the device `instance_id`.
    fn open(instance_id: &str) -> Result<(Self, SP_DEVINFO_DATA), String> {
        // SAFETY: the GUID is a static; no parent window.
        let set = Self::new(
            unsafe { SetupDiCreateDeviceInfoList(&GUID_DEVCLASS_NET, ptr::null_mut()) },
            "SetupDiCreateDeviceInfoList",
        )?;
        let mut data = devinfo_data();
        let id = wide(instance_id);
        // SAFETY: `set` is valid, `id` is NUL-terminated, `data.cbSize` set.
        if unsafe { SetupDiOpenDeviceInfoW(set.0, id.as_ptr(), ptr::null_mut(), 0, &mut data) } == 0
        {
            return Err(last_error(&format!("opening device {instance_id}")));
        }
        Ok((set, data))
    }

    fn instance_id(&self, data: &SP_DEVINFO_DATA) -> Result<String, String> {
        let mut buf = [0u16; 512];
        let mut needed = 0u32;
        // SAFETY: `data` belongs to this set; the buffer length is passed.
        let ok = unsafe {
            SetupDiGetDeviceInstanceIdW(
                self.0,
                data,
                buf.as_mut_ptr(),
                buf.len() as u32,
                &mut needed,
            )
        };
        if ok == 0 {
            return Err(last_error("SetupDiGetDeviceInstanceIdW"));
        }
        Ok(from_wide(&buf))
    }

    /// A REG_SZ or REG_MULTI_SZ device property, as the strings it holds.
    fn property(&self, data: &SP_DEVINFO_DATA, property: u32) -> Vec<String> {
        let mut buf = vec![0u16; 1024];
        let mut kind = 0u32;
        let mut needed = 0u32;
        // SAFETY: `data` belongs to this set; the buffer's byte length is passed.
        let ok = unsafe {
            SetupDiGetDeviceRegistryPropertyW(
                self.0,
                data,
                property,
                &mut kind,
                buf.as_mut_ptr().cast(),
                (buf.len() * 2) as u32,
                &mut needed,
            )
        };
        if ok == 0 {
            return Vec::new();
        }
        buf.split(|&u| u == 0)
            .take_while(|s| !s.is_empty())
            .map(String::from_utf16_lossy)
            .collect()
    }

    /// Does Windows ask for a reboot to finish what was done to `data`?
    fn needs_reboot(&self, data: &SP_DEVINFO_DATA) -> bool {
        let mut params = SP_DEVINSTALL_PARAMS_W {
            cbSize: size_of::<SP_DEVINSTALL_PARAMS_W>() as u32,
            ..SP_DEVINSTALL_PARAMS_W::default()
        };
        // SAFETY: `data` belongs to this set; `params.cbSize` is set.
        let ok = unsafe { SetupDiGetDeviceInstallParamsW(self.0, data, &mut params) };
        ok != 0 && params.Flags & (DI_NEEDREBOOT | DI_NEEDRESTART) != 0
    }
}

impl Drop for DevInfoSet {
    fn drop(&mut self) {
        // SAFETY: the set is valid and destroyed once.
        unsafe { SetupDiDestroyDeviceInfoList(self.0) };
    }
}

/// An open registry key under HKLM, closed on drop.
struct Key(HKEY);

impl Key {
    fn open(path: &str, access: u32) -> Result<Self, String> {
        let name = wide(path);
        let mut key: HKEY = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; Windows writes `key`.
        let status =
            unsafe { RegOpenKeyExW(HKEY_LOCAL_MACHINE, name.as_ptr(), 0, access, &mut key) };
        if status != ERROR_SUCCESS {
            return Err(os_error(&format!("opening HKLM\\{path}"), status));
        }
        Ok(Self(key))
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key is open and closed once.
        unsafe { RegCloseKey(self.0) };
    }
}

impl WinSystem for Win32System {
    fn inf_class(&mut self, inf: &Path) -> Result<(String, String), String> {
        let path = wide_path(inf);
        let mut guid = GUID::from_u128(0);
        let mut name = [0u16; MAX_CLASS_NAME_LEN as usize];
        let mut needed = 0u32;
        // SAFETY: `path` is NUL-terminated; the buffer length is passed.
        let ok = unsafe {
            SetupDiGetINFClassW(
                path.as_ptr(),
                &mut guid,
                name.as_mut_ptr(),
                name.len() as u32,
                &mut needed,
            )
        };
        if ok == 0 {
            return Err(last_error(&format!(
                "reading the class of {}",
                inf.display()
            )));
        }
        Ok((from_wide(&name), guid_text(&guid)))
    }

    fn create_root_device(&mut self, hardware_id: &str) -> Result<String, String> {
        // SAFETY: the GUID is a static; no parent window.
        let set = DevInfoSet::new(
            unsafe { SetupDiCreateDeviceInfoList(&GUID_DEVCLASS_NET, ptr::null_mut()) },
            "SetupDiCreateDeviceInfoList",
        )?;
        let class_name = wide("Net");
        let mut data = devinfo_data();
        // SAFETY: `set` is valid; strings are NUL-terminated; DICD_GENERATE_ID
        // makes a ROOT\NET\NNNN instance from the class name.
        let ok = unsafe {
            SetupDiCreateDeviceInfoW(
                set.0,
                class_name.as_ptr(),
                &GUID_DEVCLASS_NET,
                ptr::null(),
                ptr::null_mut(),
                DICD_GENERATE_ID,
                &mut data,
            )
        };
        if ok == 0 {
            return Err(last_error("SetupDiCreateDeviceInfoW"));
        }
        // REG_MULTI_SZ: the ID, then an empty string.
        let ids: Vec<u16> = hardware_id.encode_utf16().chain([0, 0]).collect();
        // SAFETY: `data` belongs to `set`; the byte length of `ids` is passed.
        let ok = unsafe {
            SetupDiSetDeviceRegistryPropertyW(
                set.0,
                &mut data,
                SPDRP_HARDWAREID,
                ids.as_ptr().cast(),
                (ids.len() * 2) as u32,
            )
        };
        if ok == 0 {
            return Err(last_error("setting the hardware ID"));
        }
        // SAFETY: `data` belongs to `set`.
        if unsafe { SetupDiCallClassInstaller(DIF_REGISTERDEVICE, set.0, &data) } == 0 {
            return Err(last_error("registering the device (DIF_REGISTERDEVICE)"));
        }
        set.instance_id(&data)
    }

    fn update_driver(&mut self, inf: &Path, hardware_id: &str) -> Result<bool, String> {
        let id = wide(hardware_id);
        let path = wide_path(inf);
        let mut reboot = 0;
        // SAFETY: strings are NUL-terminated; Windows writes `reboot`.
        let ok = unsafe {
            UpdateDriverForPlugAndPlayDevicesW(
                ptr::null_mut(),
                id.as_ptr(),
                path.as_ptr(),
                INSTALLFLAG_FORCE,
                &mut reboot,
            )
        };
        if ok == 0 {
            return Err(last_error(&format!(
                "installing the driver from {}",
                inf.display()
            )));
        }
        Ok(reboot != 0)
    }

    fn adapters(&mut self) -> Result<Vec<Adapter>, String> {
        let mut present = Vec::new();
        for flags in [DIGCF_PRESENT, 0] {
            // SAFETY: the GUID is a static; no enumerator, no window.
            let set = DevInfoSet::new(
                unsafe {
                    SetupDiGetClassDevsW(&GUID_DEVCLASS_NET, ptr::null(), ptr::null_mut(), flags)
                },
                "SetupDiGetClassDevsW",
            )?;
            let mut found = Vec::new();
            for index in 0.. {
                let mut data = devinfo_data();
                // SAFETY: `set` is valid; `data.cbSize` is set.
                if unsafe { SetupDiEnumDeviceInfo(set.0, index, &mut data) } == 0 {
                    // SAFETY: as in `last_error`.
                    let code = unsafe { GetLastError() };
                    if code == ERROR_NO_MORE_ITEMS {
                        break;
                    }
                    return Err(os_error("SetupDiEnumDeviceInfo", code));
                }
                let ids = set.property(&data, SPDRP_HARDWAREID);
                if !ids.iter().any(|id| id.eq_ignore_ascii_case(HARDWARE_ID)) {
                    continue;
                }
                let driver = set.property(&data, SPDRP_DRIVER).pop().unwrap_or_default();
                found.push(Adapter {
                    instance_id: set.instance_id(&data)?,
                    driver,
                    ..Adapter::default()
                });
            }
            if flags == DIGCF_PRESENT {
                present = found.into_iter().map(|a| a.instance_id).collect::<Vec<_>>();
                continue;
            }
            let mut adapters = found;
            for adapter in &mut adapters {
                adapter.present = present
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&adapter.instance_id));
                let Ok(key) = driver_key(&adapter.driver) else {
                    continue;
                };
                let values = self.read_values(&key).unwrap_or_default();
                adapter.inf_path = values.get("InfPath").cloned();
                adapter.name = values
                    .get("NetCfgInstanceId")
                    .and_then(|id| connection_key(id).ok())
                    .and_then(|k| self.read_values(&k).ok())
                    .and_then(|v| v.get("Name").cloned());
            }
            return Ok(adapters);
        }
        Ok(Vec::new())
    }

    fn remove_device(&mut self, instance_id: &str) -> Result<bool, String> {
        let (set, data) = DevInfoSet::open(instance_id)?;
        let mut reboot = 0;
        // SAFETY: `data` belongs to `set`; Windows writes `reboot`.
        if unsafe { DiUninstallDevice(ptr::null_mut(), set.0, &data, 0, &mut reboot) } == 0 {
            return Err(last_error(&format!("removing device {instance_id}")));
        }
        Ok(reboot != 0)
    }

    fn delete_driver_package(&mut self, oem_inf: &str) -> Result<(), String> {
        let name = wide(oem_inf);
        // SAFETY: `name` is NUL-terminated; no flags, reserved is null.
        if unsafe { SetupUninstallOEMInfW(name.as_ptr(), 0, ptr::null()) } == 0 {
            return Err(last_error(&format!("deleting driver package {oem_inf}")));
        }
        Ok(())
    }

    fn read_values(&mut self, key: &str) -> Result<BTreeMap<String, String>, String> {
        let key = Key::open(key, KEY_READ)?;
        let mut values = BTreeMap::new();
        // Large enough for any REG_SZ a setting holds (a 32767-character
        // path); a larger value is not one of ours and is skipped.
        let mut data = vec![0u8; 65536 + 2];
        for index in 0.. {
            let mut name = [0u16; 16384];
            let mut name_len = name.len() as u32;
            let mut kind = 0u32;
            let mut data_len = data.len() as u32;
            // SAFETY: the key is open; buffer lengths are passed and updated.
            let status = unsafe {
                RegEnumValueW(
                    key.0,
                    index,
                    name.as_mut_ptr(),
                    &mut name_len,
                    ptr::null(),
                    &mut kind,
                    data.as_mut_ptr(),
                    &mut data_len,
                )
            };
            match status {
                ERROR_SUCCESS => {}
                ERROR_NO_MORE_ITEMS => break,
                ERROR_MORE_DATA => continue,
                code => return Err(os_error("RegEnumValueW", code)),
            }
            if kind == REG_SZ {
                let units: Vec<u16> = data[..data_len as usize]
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .collect();
                values.insert(from_wide(&name[..name_len as usize]), from_wide(&units));
            }
        }
        Ok(values)
    }

    fn write_value(&mut self, write: &RegWrite) -> Result<(), String> {
        let key = Key::open(&write.key, KEY_SET_VALUE)?;
        let name = wide(write.name);
        let status = match &write.data {
            RegData::Sz(text) => {
                let value = wide(text);
                // SAFETY: the key is open; the byte length includes the NUL.
                unsafe {
                    RegSetValueExW(
                        key.0,
                        name.as_ptr(),
                        0,
                        REG_SZ,
                        value.as_ptr().cast(),
                        (value.len() * 2) as u32,
                    )
                }
            }
            // SAFETY: the key is open; `name` is NUL-terminated.
            RegData::Delete => match unsafe { RegDeleteValueW(key.0, name.as_ptr()) } {
                ERROR_FILE_NOT_FOUND => ERROR_SUCCESS,
                other => other,
            },
        };
        if status != ERROR_SUCCESS {
            return Err(os_error(&format!("writing {}", write.name), status));
        }
        Ok(())
    }

    fn restart_device(&mut self, instance_id: &str) -> Result<bool, String> {
        let (set, data) = DevInfoSet::open(instance_id)?;
        let params = SP_PROPCHANGE_PARAMS {
            ClassInstallHeader: SP_CLASSINSTALL_HEADER {
                cbSize: size_of::<SP_CLASSINSTALL_HEADER>() as u32,
                InstallFunction: DIF_PROPERTYCHANGE,
            },
            StateChange: DICS_PROPCHANGE,
            Scope: DICS_FLAG_CONFIGSPECIFIC,
            HwProfile: 0,
        };
        // SAFETY: `data` belongs to `set`; `params` starts with its header and
        // its full size is passed.
        let ok = unsafe {
            SetupDiSetClassInstallParamsW(
                set.0,
                &data,
                &params.ClassInstallHeader,
                size_of::<SP_PROPCHANGE_PARAMS>() as u32,
            )
        };
        if ok == 0 {
            return Err(last_error("SetupDiSetClassInstallParamsW"));
        }
        // SAFETY: `data` belongs to `set`.
        if unsafe { SetupDiCallClassInstaller(DIF_PROPERTYCHANGE, set.0, &data) } == 0 {
            return Err(last_error(&format!("restarting {instance_id}")));
        }
        Ok(set.needs_reboot(&data))
    }
}
