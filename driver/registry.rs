//! The adapter's registry values, read through NdisOpenConfigurationEx and
//! NdisReadConfiguration into the settings (`crate::config`, which holds
//! the rules). Runs in MiniportInitializeEx, at PASSIVE_LEVEL.

// NDIS constant names (NdisParameterString, ...) are matched as patterns.
#![allow(non_upper_case_globals)]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr;

use crate::config::{AdapterConfig, SettingSource};
use crate::datapath::trace_line;
use crate::ndis::*;
use crate::ndis_api::Platform;

/// Registry values through NdisReadConfiguration.
struct NdisConfig<P: Platform> {
    handle: NDIS_HANDLE,
    _platform: core::marker::PhantomData<P>,
}

impl<P: Platform> NdisConfig<P> {
    fn read(
        &mut self,
        name: &str,
        parameter_type: u32,
    ) -> Option<*mut NDIS_CONFIGURATION_PARAMETER> {
        let mut wide: Vec<u16> = name.encode_utf16().collect();
        let keyword = NDIS_STRING {
            Length: (wide.len() * 2) as u16,
            MaximumLength: (wide.len() * 2) as u16,
            Buffer: wide.as_mut_ptr(),
        };
        let mut status = NDIS_STATUS_FAILURE;
        let mut value: *mut NDIS_CONFIGURATION_PARAMETER = ptr::null_mut();
        // SAFETY: the configuration handle is open; `keyword` and `wide` live
        // across the call; NDIS writes `status` and `value`.
        unsafe {
            P::read_configuration(
                &mut status,
                &mut value,
                self.handle,
                &keyword,
                parameter_type,
            )
        };
        (status == NDIS_STATUS_SUCCESS && !value.is_null()).then_some(value)
    }
}

impl<P: Platform> SettingSource for NdisConfig<P> {
    fn string(&mut self, name: &str) -> Option<String> {
        let value = self.read(name, NdisParameterString)?;
        // SAFETY: NDIS returned a parameter, valid (and not written) until
        // the configuration handle is closed, after this value is read.
        let parameter = unsafe { &*value };
        if parameter.ParameterType != NdisParameterString {
            return None;
        }
        // SAFETY: a string parameter holds the string arm.
        let text = unsafe { parameter.ParameterData.StringData };
        if text.Buffer.is_null() {
            return None;
        }
        // SAFETY: the string's buffer holds `Length` bytes of UTF-16.
        let units =
            unsafe { core::slice::from_raw_parts(text.Buffer, usize::from(text.Length) / 2) };
        // At most 3 UTF-8 bytes a unit, reserved fallibly: the length is the
        // registry's, and a failed allocation in the kernel must not abort.
        let mut decoded = String::new();
        if decoded.try_reserve_exact(units.len() * 3).is_err() {
            trace_line::<P>(format_args!(
                "volnic: out of memory reading registry value {name}"
            ));
            return None;
        }
        for c in char::decode_utf16(units.iter().copied()) {
            decoded.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        let end = decoded.trim_end_matches('\0').len();
        decoded.truncate(end);
        Some(decoded)
    }

    fn integer(&mut self, name: &str) -> Option<u32> {
        let value = self.read(name, NdisParameterInteger)?;
        // SAFETY: as in `string`.
        let parameter = unsafe { &*value };
        if !matches!(
            parameter.ParameterType,
            NdisParameterInteger | NdisParameterHexInteger
        ) {
            return None;
        }
        // SAFETY: an integer parameter holds the integer arm.
        Some(unsafe { parameter.ParameterData.IntegerData })
    }
}

/// Reads the adapter's settings from its registry key; the error says which
/// value is wrong and what to set.
pub fn read_config<P: Platform>(miniport: NDIS_HANDLE) -> Result<AdapterConfig, String> {
    let object = NDIS_CONFIGURATION_OBJECT {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
            Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1,
            Size: NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1,
        },
        NdisHandle: miniport,
        Flags: 0,
    };
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: `object` names this miniport; NDIS writes the handle.
    let status = unsafe { P::open_configuration(&object, &mut handle) };
    if status != NDIS_STATUS_SUCCESS {
        return Err(format!(
            "cannot open the adapter's registry key (status {status:#x})"
        ));
    }
    let mut source = NdisConfig::<P> {
        handle,
        _platform: core::marker::PhantomData,
    };
    let config = AdapterConfig::from_source(&mut source).map_err(|e| format!("{e}"));
    // SAFETY: opened above; no parameter read from it is used after this.
    unsafe { P::close_configuration(handle) };
    config
}
