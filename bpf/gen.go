package bpf

// The C sources compile into one collection. Enums and structs that only
// user space needs get an anchor global in dorivo.c, which puts them in BTF;
// map value types are named with -type. Either way Go never retypes them.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type counter -type tenant_counter -type quota_rule -type quota_bucket -type acl_key -type agent_config -type auth_tag -type auth_entry -type shed_entry Dorivo dorivo.c -- -I.
