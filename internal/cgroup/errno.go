package cgroup

import "syscall"

// errNoDevice is what reading a file of a cgroup being removed can return
// (kernfs answers ENODEV once the node is deactivated).
var errNoDevice error = syscall.ENODEV
