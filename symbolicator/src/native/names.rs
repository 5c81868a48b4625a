//! Function names as the toolchain's own symbolizers give them
//! (`addr2line -f -i -C`, `llvm-symbolizer`), for ELF and Mach-O files with
//! DWARF:
//!
//! - every function, outer or inlined, is named from its DWARF entry by its
//!   linkage name (`DW_AT_linkage_name`, demangled at lookup), following
//!   `DW_AT_abstract_origin` and `DW_AT_specification`: a compiler clone
//!   (`.isra`, `.constprop`, `.part`) and both parts of a function split
//!   hot/cold carry the name of the function they were made from
//!   (`vitals::risk::run(int)`, not `run(int) [clone .cold]`), as
//!   `addr2line` reports them;
//! - an outer function whose entry has no linkage name (C, C++ in an
//!   anonymous namespace, `main`) is named by the symbol covering its code,
//!   as both tools do for a single address (`weigh.constprop.0` in C,
//!   `ns::(anonymous namespace)::check_limit(long, long) [clone
//!   .constprop.0]` in C++, where `DW_AT_name` says only `check_limit`),
//!   else by `DW_AT_name`; inlined functions without linkage name keep
//!   `DW_AT_name`, as both tools do;
//! - the symbol table alone names the addresses no DWARF function covers.
//!
//! `symbolic`'s own conversion names every outer function by the symbol at
//! its first address (`check_limit(long, long) [clone .constprop.0]
//! [clone .cold]` also for the hot part, whose symbol is not that); other
//! formats (PDB, Breakpad, Wasm, Mach-O needing a BCSymbolMap) keep it.

use symbolic_common::{Name, NameMangling};
use symbolic_debuginfo::dwarf::DwarfDebugSession;
use symbolic_debuginfo::{Function, Object, SymbolMap};
use symbolic_symcache::SymCacheConverter;

/// Feeds `object` into `conv` with toolchain names (see the module
/// documentation). Errors are the DWARF parser's, as text.
pub fn process_object(conv: &mut SymCacheConverter<'_>, object: &Object<'_>) -> Result<(), String> {
    let session = match object {
        Object::Elf(elf) => {
            DwarfDebugSession::parse(elf, SymbolMap::new(), elf.load_address() as i64, elf.kind())
        }
        Object::MachO(macho) if !macho.requires_symbolmap() => DwarfDebugSession::parse(
            macho,
            SymbolMap::new(),
            macho.load_address() as i64,
            macho.kind(),
        ),
        _ => return conv.process_object(object).map_err(|e| e.to_string()),
    }
    .map_err(|e| e.to_string())?;
    conv.set_arch(object.arch());
    conv.set_debug_id(object.debug_id());
    let symbols = object.symbol_map();
    for function in session.functions() {
        let mut function = function.map_err(|e| e.to_string())?;
        name_from_symbols(&mut function, &symbols);
        conv.process_symbolic_function(&function);
    }
    for symbol in object.symbols() {
        conv.process_symbolic_symbol(&symbol);
    }
    Ok(())
}

/// An outer function without linkage name takes the name of the symbol
/// covering its first address, when there is one.
fn name_from_symbols<'d>(function: &mut Function<'d>, symbols: &SymbolMap<'d>) {
    if function.name.mangling() == NameMangling::Mangled && !function.name.as_str().is_empty() {
        return;
    }
    if let Some(name) = symbols
        .lookup(function.address)
        .and_then(|s| s.name.clone())
    {
        function.name = Name::new(name, NameMangling::Mangled, function.name.language());
    }
}
