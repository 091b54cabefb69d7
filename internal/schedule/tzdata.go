package schedule

// The release image (distroless) may lack /usr/share/zoneinfo; embedding the
// tz database (about 450 KB) keeps every IANA zone loadable wherever this
// package is linked. time.LoadLocation still prefers the system's files.
import _ "time/tzdata"
