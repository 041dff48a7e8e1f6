//! Kernel struct offsets for the eBPF program, read from the running
//! kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! rustc emits no CO-RE relocations, so the program cannot ask the loader to
//! fix field offsets; instead user space looks each one up here at start and
//! hands them over as a global. A missing field is an error naming it, never
//! a zero that would make the program read the wrong memory.

use std::path::Path;

use btf_rs::{Btf, BtfType, Type};
use swmon_common::KernelOffsets;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("can't read kernel BTF from {path}: {source} (is CONFIG_DEBUG_INFO_BTF set?)")]
    Read { path: String, source: btf_rs::Error },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF has no field {field} in struct {strukt}")]
    NoField { strukt: String, field: String },
    #[error("field {field} of struct {strukt} is a bitfield or not byte-aligned")]
    Unaligned { strukt: String, field: String },
}

/// Reads every offset the eBPF program needs from the BTF at `path`.
pub fn kernel_offsets(path: &Path) -> Result<KernelOffsets, BtfError> {
    let btf = Btf::from_file(path).map_err(|source| BtfError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let r = Resolver { btf };
    Ok(KernelOffsets {
        task_real_parent: r.offset("task_struct", "real_parent")?,
        task_tgid: r.offset("task_struct", "tgid")?,
        task_mm: r.offset("task_struct", "mm")?,
        task_loginuid: r.offset("task_struct", "loginuid")?,
        task_sessionid: r.offset("task_struct", "sessionid")?,
        task_cred: r.offset("task_struct", "cred")?,
        task_exit_code: r.offset("task_struct", "exit_code")?,
        cred_euid: r.offset("cred", "euid")?,
        mm_arg_start: r.offset("mm_struct", "arg_start")?,
        mm_arg_end: r.offset("mm_struct", "arg_end")?,
        mm_exe_file: r.offset("mm_struct", "exe_file")?,
        file_path: r.offset("file", "f_path")?,
        file_inode: r.offset("file", "f_inode")?,
        path_mnt: r.offset("path", "mnt")?,
        path_dentry: r.offset("path", "dentry")?,
        inode_ino: r.offset("inode", "i_ino")?,
        inode_sb: r.offset("inode", "i_sb")?,
        inode_size: r.offset("inode", "i_size")?,
        inode_nlink: r.offset("inode", "__i_nlink")?,
        sb_dev: r.offset("super_block", "s_dev")?,
        dentry_name: r.offset("dentry", "d_name")?,
        dentry_parent: r.offset("dentry", "d_parent")?,
        qstr_len: r.offset("qstr", "len")?,
        qstr_name: r.offset("qstr", "name")?,
        mount_parent: r.offset("mount", "mnt_parent")?,
        mount_mountpoint: r.offset("mount", "mnt_mountpoint")?,
        mount_mnt: r.offset("mount", "mnt")?,
        vfsmount_root: r.offset("vfsmount", "mnt_root")?,
    })
}

struct Resolver {
    btf: Btf,
}

impl Resolver {
    /// Byte offset of `field` in struct `strukt`, looking through anonymous
    /// structs and unions (`mm_struct`'s fields sit in one, `qstr.len` in two).
    fn offset(&self, strukt: &str, field: &str) -> Result<u32, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(strukt)
            .map_err(|_| BtfError::NoStruct(strukt.to_owned()))?;
        let members = types
            .iter()
            .find_map(|t| match t {
                Type::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| BtfError::NoStruct(strukt.to_owned()))?;
        let bits = self
            .find(&members.members, field, 0)
            .ok_or_else(|| BtfError::NoField {
                strukt: strukt.to_owned(),
                field: field.to_owned(),
            })?;
        if bits % 8 != 0 {
            return Err(BtfError::Unaligned {
                strukt: strukt.to_owned(),
                field: field.to_owned(),
            });
        }
        Ok(bits / 8)
    }

    fn find(&self, members: &[btf_rs::Member], field: &str, base: u32) -> Option<u32> {
        for m in members {
            let name = self.btf.resolve_name(m).unwrap_or_default();
            if name == field {
                return Some(base + m.bit_offset());
            }
            if name.is_empty() {
                let inner = m
                    .get_type_id()
                    .and_then(|id| self.btf.resolve_type_by_id(id).ok());
                if let Some(Type::Struct(s) | Type::Union(s)) = inner {
                    if let Some(off) = self.find(&s.members, field, base + m.bit_offset()) {
                        return Some(off);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every machine this project runs on has BTF; the offsets must be
    /// plausible (non-zero where the field cannot be first) and stable.
    #[test]
    fn offsets_from_this_kernel() {
        let off = kernel_offsets(Path::new("/sys/kernel/btf/vmlinux")).expect("kernel BTF");
        assert_ne!(off.task_mm, 0);
        assert_ne!(off.mm_exe_file, 0);
        assert_eq!(off.qstr_len, 4, "qstr.len follows the 32-bit hash");
        assert_eq!(off.qstr_name, 8);
        assert_eq!(off.path_mnt, 0);
        assert_eq!(off.path_dentry, 8);
        assert_ne!(off.mount_mnt, 0);
        assert!(off.inode_nlink > off.inode_sb);
    }

    #[test]
    fn missing_field_is_named() {
        let r = Resolver {
            btf: Btf::from_file("/sys/kernel/btf/vmlinux").expect("kernel BTF"),
        };
        let err = r.offset("task_struct", "no_such_field").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF has no field no_such_field in struct task_struct"
        );
    }
}
