module ticketing/services/expiration

go 1.26

require ticketing/common v0.0.0

replace ticketing/common => ../../common
