// Command web runs the storefront.
package main

import (
	"ticketing/common/service"
	"ticketing/services/web"
)

func main() { service.Main("web", web.LoadConfig, web.Run) }
