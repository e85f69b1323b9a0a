"""A broker set up for microdial: Mosquitto's configuration, users and ACLs, and a probe of a running one."""
