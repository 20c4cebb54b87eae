"""Physical constants, SI or km as the name says."""

# WGS84 (NIMA TR8350.2): equatorial radius and flattening.
EARTH_EQUATORIAL_RADIUS_KM = 6378.137
EARTH_FLATTENING = 1.0 / 298.257223563
EARTH_ECCENTRICITY_SQ = EARTH_FLATTENING * (2.0 - EARTH_FLATTENING)
# WGS72 gravitational parameter, the one SGP4 is built on (Vallado et al. 2006).
EARTH_MU_KM3_S2 = 398600.8
EARTH_J2 = 0.001082616
# Earth rotation rate (IERS), rad/s.
EARTH_ROTATION_RAD_S = 7.2921158553e-5
# IAU 2015 nominal solar radius.
SUN_RADIUS_KM = 695700.0
AU_KM = 149597870.7
# Total solar irradiance at 1 AU (Kopp & Lean 2011, SORCE/TIM): 1360.8 +/- 0.5 W/m^2.
SOLAR_CONSTANT_W_M2 = 1361.0
STEFAN_BOLTZMANN_W_M2_K4 = 5.670374419e-8
# Cosmic background temperature.
SPACE_TEMPERATURE_K = 2.7
# Earth's mean outgoing long-wave radiation ~237-240 W/m^2 (Trenberth et al. 2009) and Bond
# albedo ~0.30, the usual values for LEO thermal design (Gilmore, Spacecraft Thermal Control
# Handbook, ch. 2).
EARTH_OLR_W_M2 = 237.0
EARTH_ALBEDO = 0.30
# Mean thickness of the atmosphere a laser or RF cross-link must clear (DESIGN.md section 3).
ISL_ATMOSPHERE_MARGIN_KM = 80.0

SECONDS_PER_DAY = 86400.0
KELVIN_OFFSET = 273.15
# Julian date of the Unix epoch 1970-01-01T00:00:00Z.
JD_UNIX_EPOCH = 2440587.5
