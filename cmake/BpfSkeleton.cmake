# Builds BPF objects and their libbpf skeletons.
#
#   ebt_bpf_skeleton(<name> <src.bpf.c> [DEPENDS hdr...])
#
# compiles <src> with clang -target bpf against a vmlinux.h generated from the
# running kernel's BTF, runs `bpftool gen skeleton`, and defines the INTERFACE
# target <name>_skel whose include dir holds <name>.skel.h (struct <name>_bpf).
# Adding a probe family is one call in bpf/CMakeLists.txt.
#
# EBTRACE_VMLINUX_H: use this vmlinux.h instead of dumping /sys/kernel/btf/vmlinux
# (for building on a machine whose kernel has no BTF).
include_guard(GLOBAL)

find_program(EBT_BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(EBT_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(EBTRACE_VMLINUX_H "" CACHE FILEPATH "prebuilt vmlinux.h (default: dump the running kernel's BTF)")
set(EBT_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${EBT_BPF_GEN_DIR})

if(EBTRACE_VMLINUX_H)
  configure_file(${EBTRACE_VMLINUX_H} ${EBT_BPF_GEN_DIR}/vmlinux.h COPYONLY)
  add_custom_target(ebt_vmlinux_h)
else()
  if(NOT EXISTS /sys/kernel/btf/vmlinux)
    message(FATAL_ERROR
      "ebtrace: this kernel has no BTF (/sys/kernel/btf/vmlinux is missing), so vmlinux.h "
      "cannot be generated for the BPF programs. Use a kernel built with CONFIG_DEBUG_INFO_BTF=y "
      "or pass -DEBTRACE_VMLINUX_H=/path/to/vmlinux.h")
  endif()
  add_custom_command(
    OUTPUT ${EBT_BPF_GEN_DIR}/vmlinux.h
    COMMAND sh -c "test -r /sys/kernel/btf/vmlinux || { echo 'ebtrace: /sys/kernel/btf/vmlinux missing: kernel BTF needed to build the BPF programs' >&2; exit 1; }"
    COMMAND ${EBT_BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${EBT_BPF_GEN_DIR}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${EBT_BPF_GEN_DIR}/vmlinux.h.tmp ${EBT_BPF_GEN_DIR}/vmlinux.h
    COMMENT "Generating vmlinux.h from the running kernel's BTF"
    VERBATIM)
  add_custom_target(ebt_vmlinux_h DEPENDS ${EBT_BPF_GEN_DIR}/vmlinux.h)
endif()

function(ebt_bpf_skeleton name src)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "" "" "DEPENDS")
  get_filename_component(src_abs ${src} ABSOLUTE)
  set(obj ${EBT_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${EBT_BPF_GEN_DIR}/${name}.skel.h)
  set(extra_deps)
  foreach(dep IN LISTS ARG_DEPENDS)
    get_filename_component(dep_abs ${dep} ABSOLUTE)
    list(APPEND extra_deps ${dep_abs})
  endforeach()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${EBT_BPF_CLANG} -target bpf -O2 -g -D__TARGET_ARCH_x86 -Wall -Wno-unused-function
            -I${EBT_BPF_GEN_DIR} -I/usr/include/bpf -I${PROJECT_SOURCE_DIR}
            -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${extra_deps} ${EBT_BPF_GEN_DIR}/vmlinux.h
            ${PROJECT_SOURCE_DIR}/bpf/events.h ${PROJECT_SOURCE_DIR}/bpf/maps.bpf.h
    COMMENT "BPF ${name}: compiling ${src}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${EBT_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF ${name}: generating skeleton"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_dependencies(${name}_skel_gen ebt_vmlinux_h)
  add_library(${name}_skel INTERFACE)
  target_include_directories(${name}_skel INTERFACE ${EBT_BPF_GEN_DIR})
  add_dependencies(${name}_skel ${name}_skel_gen)
  set_property(GLOBAL APPEND PROPERTY EBT_BPF_SKELETONS ${name})
endfunction()
