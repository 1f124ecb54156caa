# Sourced by the image scripts: how podman is called here.
# This machine's kernel mixes cgroup v1 and v2, which crun refuses, and its default rlimits are
# above what a container may ask for; a normal Docker/podman host needs none of these flags
# (PODMAN="podman" or PODMAN="docker" there; see docs/containers.md).
PODMAN=${PODMAN:-podman --runtime runc --cgroup-manager cgroupfs}
RUN_FLAGS=${RUN_FLAGS:---network host --ulimit nofile=1024:1024 --ulimit nproc=1000:1000}
