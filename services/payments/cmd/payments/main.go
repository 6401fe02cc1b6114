// Command payments runs the payments service.
package main

import (
	"ticketing/common/service"
	"ticketing/services/payments"
)

func main() { service.Main(payments.Name, payments.LoadConfig, payments.Run) }
