"""The app's stylesheet and icon.  Shipped inside the package as `lenet_viz.resources` (pyproject's
package-dir maps this folder there), so an installed app finds them wherever it is installed."""
