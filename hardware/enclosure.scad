// microdial enclosure: a box for the board and a lid that carries the encoder (or pot).
//
// Render:  openscad -o box.stl -D 'part="box"' hardware/enclosure.scad
//          openscad -o lid.stl -D 'part="lid"' hardware/enclosure.scad
//          openscad -o both.stl -D 'board="kb2040"' -D 'input="pot"' hardware/enclosure.scad
// Print in PLA or PETG, 0.2 mm layers, lid upside down (flat face on the bed), no supports.
//
// Board outlines and holes are from the makers' drawings; the control's bushing and lug
// defaults are typical for EC11-size encoders and 9 mm pots: check them against the panel
// cut-out drawing in your part's datasheet and adjust control_* below.

board = "pico";      // "pico" | "kb2040" | "qtpy_rp2040"
input = "encoder";   // "encoder" | "pot"
part = "both";       // "both" | "box" | "lid"

wall = 2.0;          // wall and floor thickness
lid_t = 2.0;         // lid thickness (the control's bushing must reach through it and the nut)
clear = 0.3;         // fit clearance for printed parts
corner_r = 3;        // outer corner radius
inner_h = 24;        // inside height: board + standoffs below, control body above

// Control mounted through the lid: bushing hole and anti-rotation lug slot.
control_hole_d = input == "encoder" ? 7.2 : 7.2;  // M7 bushing, with clearance
control_lug_r = input == "encoder" ? 5.6 : 6.0;   // bushing centre to lug centre
control_lug_w = 1.4;                               // slot width (lug about 1 mm)
control_lug_l = 2.0;                               // slot length, radial
control_body = input == "encoder" ? [12.5, 13.5] : [10, 11];  // body footprint under the lid
// The pot build marks moments with a separate panel push button (the encoder has its own).
button_hole_d = 16.2;                              // 16 mm panel-mount momentary button

// Boards: [length, width, pcb thickness, holes [[x, y]...], hole diameter, USB [width, height, z above pcb top]]
// USB sits on the short edge at x = 0.
function board_spec(name) =
    name == "pico"        ? [51.0, 21.0, 1.0, [[2.0, 4.8], [2.0, 16.2], [49.0, 4.8], [49.0, 16.2]], 2.1, [12, 8, 1.5]] :
    name == "kb2040"      ? [33.0, 18.0, 1.6, [], 0, [13, 8, 1.6]] :
    name == "qtpy_rp2040" ? [21.6, 17.8, 1.6, [], 0, [13, 8, 1.6]] :
    assert(false, str("unknown board ", name));

spec = board_spec(board);
pcb = [spec[0], spec[1]];
pcb_t = spec[2];
holes = spec[3];
hole_d = spec[4];
usb = spec[5];

standoff_h = 4;      // room under the board for solder joints
gap = 4;             // between board and control body
// Layout along the box: board | gap | (pot build: button) | control. Nothing deep hangs
// from the lid over the board.
button_room = input == "pot" ? button_hole_d + 6 : 0;
inner = [pcb[0] + gap + button_room + control_body[0] + 6,
         max(pcb[1], control_body[1], input == "pot" ? button_hole_d + 4 : 0) + 12];
outer = [inner[0] + 2 * wall, inner[1] + 2 * wall, inner_h + wall];

board_origin = [wall + 1, wall + (inner[1] - pcb[1]) / 2];   // USB edge 1 mm from the wall
control_xy = [wall + inner[0] - 3 - control_body[0] / 2, outer[1] / 2];
button_xy = [control_xy[0] - control_body[0] / 2 - 3 - button_hole_d / 2, outer[1] / 2];

module rounded(size, r) {
    linear_extrude(size[2])
        offset(r) offset(-r) square([size[0], size[1]]);
}

module standoffs() {
    pcb_z = wall + standoff_h;
    if (len(holes) > 0) {
        for (h = holes)
            translate([board_origin[0] + h[0], board_origin[1] + h[1], wall - 0.01])
                difference() {
                    cylinder(d = hole_d + 3.2, h = standoff_h, $fn = 32);
                    cylinder(d = hole_d - 0.4, h = standoff_h + 1, $fn = 24);  // self-tapping M2
                }
    } else {
        // No mounting holes: ledges under the long edges, rails beside them and an end stop
        // opposite the USB end; a dot of hot glue or foam tape keeps the board down.
        rail_h = standoff_h + pcb_t + 1;
        for (y = [-2 - clear, pcb[1] + clear])
            translate([board_origin[0] + 3, board_origin[1] + y, wall - 0.01]) cube([pcb[0] - 6, 2, rail_h]);
        for (y = [0, pcb[1] - 1.5])
            translate([board_origin[0] + 3, board_origin[1] + y, wall - 0.01]) cube([pcb[0] - 6, 1.5, standoff_h]);
        translate([board_origin[0] + pcb[0] + clear, board_origin[1], wall - 0.01]) cube([2, pcb[1], rail_h]);
    }
}

module usb_cutout() {
    z = wall + standoff_h + pcb_t + usb[2] - usb[1] / 2;
    translate([-1, board_origin[1] + pcb[1] / 2 - usb[0] / 2, z])
        cube([wall + 2, usb[0], usb[1]]);
}

module box() {
    difference() {
        rounded(outer, corner_r);
        translate([wall, wall, wall]) rounded([inner[0], inner[1], inner_h + 1], max(corner_r - wall, 0.5));
        // Lid recess: the lid sits flush in the top of the walls.
        translate([wall / 2, wall / 2, outer[2] - lid_t])
            rounded([outer[0] - wall, outer[1] - wall, lid_t + 1], max(corner_r - wall / 2, 0.5));
        usb_cutout();
    }
    standoffs();
}

module control_cutout() {
    translate([control_xy[0], control_xy[1], -1]) {
        cylinder(d = control_hole_d, h = lid_t + 2, $fn = 64);
        // Anti-rotation: a blind slot from below for the lug, so it does not show on top.
        translate([control_lug_r - control_lug_l / 2, -control_lug_w / 2, 0])
            cube([control_lug_l, control_lug_w, 1 + lid_t * 0.6]);
    }
}

module lid() {
    difference() {
        rounded([outer[0] - wall - clear * 2, outer[1] - wall - clear * 2, lid_t], max(corner_r - wall / 2, 0.5));
        translate([-wall / 2 - clear, -wall / 2 - clear, 0]) {
            control_cutout();
            if (input == "pot")
                translate([button_xy[0], button_xy[1], -1]) cylinder(d = button_hole_d, h = lid_t + 2, $fn = 64);
        }
    }
}

if (part == "box" || part == "both") box();
if (part == "lid") lid();
if (part == "both") translate([0, outer[1] + 8, 0]) lid();

echo(str("microdial enclosure: ", board, " + ", input, ", outside ", outer[0], " x ", outer[1], " x ", outer[2], " mm"));
