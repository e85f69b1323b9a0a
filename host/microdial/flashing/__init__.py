"""Put the dial firmware and its settings onto a CircuitPython board's CIRCUITPY drive, and check
a dial's settings.toml before it gets there.

boards         pin tables of the supported boards and the dial's wiring on each
settings       the model of every MICRODIAL_* key, checked against a board
settings_file  the settings.toml subset CircuitPython reads: parse with line numbers, write
drive          find the CIRCUITPY drive, read boot_out.txt
plan           every file's bytes (sources, mpy-cross, bundle libraries) before writing
install        write, read back and compare, report
"""
