/* Request lines of the shared-channels board's controller, as a dt-bindings header would name them. */
#define SIM_DMA_I2S0_TX		0
#define SIM_DMA_I2S0_RX		1
#define SIM_DMA_ADC0		2
#define SIM_DMA_UART0_TX	10
#define SIM_DMA_UART0_RX	11
#define SIM_DMA_UART1_TX	12
#define SIM_DMA_UART1_RX	13
